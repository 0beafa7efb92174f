//! # thinjail-test-plugin-not-a-plugin
//!
//! A shared library that is not a thinjail plugin at all: it has no entry symbol.
//! thinjail must refuse it.

/// Something a library might export.
#[no_mangle]
pub extern "C" fn answer() -> i32 {
    42
}

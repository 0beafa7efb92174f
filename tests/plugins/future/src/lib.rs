//! # thinjail-test-plugin-future
//!
//! A library built for a later plugin interface: it exports `thinjail_plugin_v2` and
//! not `thinjail_plugin_v1`. thinjail must refuse it, saying which version it is for.
//! (No dependency at all: a different interface could have any descriptor.)

/// The version-2 entry symbol; this thinjail must not call it.
#[no_mangle]
pub extern "C" fn thinjail_plugin_v2() -> *const u8 {
    std::ptr::null()
}

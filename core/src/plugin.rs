//! The plugin interface: third-party stages in shared libraries, loaded at run time.
//!
//! A plugin is a `cdylib` that exports **one C-ABI symbol whose name carries the
//! interface version**, [`ENTRY_SYMBOL`] (`thinjail_plugin_v1`). Calling it returns a
//! pointer to a static [`RawDescriptor`]: the interface version, the JSON schema
//! version, the plugin's name and version, the stages it provides (names, summaries)
//! and four `extern "C"` functions:
//!
//! | function | takes | returns (on success) |
//! |---|---|---|
//! | `configure` | stage name, its config (RON text, or absent) | nothing: the config is valid |
//! | `probes` | stage, config, the recipe as JSON | [`Probes`](crate::stage::Probes) as JSON |
//! | `plan` | stage, config, the recipe and the world as JSON | `Vec<`[`Planned`](crate::stage::Planned)`>` as JSON |
//! | `free_reply` | a reply the plugin returned | — |
//!
//! Every string crosses as a [`RawSlice`] (pointer + length, UTF-8, never
//! NUL-terminated); every reply is a [`RawReply`] (a status and bytes the *plugin*
//! allocated), which the host copies and then hands back to `free_reply`. Only these
//! `#[repr(C)]` types and C function pointers cross the boundary: no Rust type, no
//! Rust allocation, no unwinding. A reply's status is [`REPLY_OK`] (JSON payload),
//! [`REPLY_STAGE_ERROR`] (the stage refused: a JSON
//! [`StageError`](crate::stage::StageError)) or [`REPLY_FAILURE`] (the plugin failed,
//! e.g. panicked: a UTF-8 message).
//!
//! Authors never see any of this: they write an ordinary [`Stage`](crate::stage::Stage),
//! implement [`crate::stage::DeclaredStage`] (how to build it from its configuration) and add
//! one line, [`export_plugin!`](crate::export_plugin). The host side ([`host`]) checks
//! the descriptor, calls the functions and turns each stage into a
//! [`Stage`](crate::stage::Stage) whose actions go through the same confinement
//! checks, world model and executor as the built-ins'. Opening the library itself
//! (dlopen, permission checks) is the `thinjail` command's job.
//!
//! Compatibility rules: the first field of every descriptor version is
//! `interface_version: u32`, so a host can always tell which layout it is looking at;
//! any change to the layout, the functions or their meaning gets a new symbol
//! (`thinjail_plugin_v2`). The JSON documents are thinjail-core's serde forms of
//! [`Recipe`](crate::recipe::Recipe), [`World`](crate::world::World),
//! [`Probes`](crate::stage::Probes), [`Planned`](crate::stage::Planned) and
//! [`StageError`](crate::stage::StageError); [`JSON_SCHEMA_VERSION`] is bumped when any
//! of them changes incompatibly, and a host refuses a plugin built for another.
//!
//! The unsafe functions of the interface are in this file: reading what a raw pointer
//! designates ([`borrow_bytes`], [`read_descriptor`]), and a plugin freeing its own
//! replies ([`reclaim_bytes`]). [`host`] and [`guest`] call them (and a plugin's entry
//! function), each call with its SAFETY reason; no other module of the crate may
//! use `unsafe` (`#![deny(unsafe_code)]` in `lib.rs`).

mod error;
pub mod guest;
pub mod host;

pub use error::{LibraryProblem, Malformation, PluginError, TextProblem};

/// Version of the interface this build speaks; it is also the suffix of [`ENTRY_SYMBOL`].
pub const INTERFACE_VERSION: u32 = 1;

/// Name of the symbol every plugin exports.
pub const ENTRY_SYMBOL: &str = "thinjail_plugin_v1";

/// [`ENTRY_SYMBOL`] NUL-terminated, as dlsym(3) wants it.
pub const ENTRY_SYMBOL_NUL: &[u8] = b"thinjail_plugin_v1\0";

/// The symbol a plugin built for interface `version` exports.
pub fn entry_symbol(version: u32) -> String {
    format!("thinjail_plugin_v{version}")
}

/// Version of the JSON documents exchanged with plugins (recipe, world, probes,
/// planned actions, stage errors).
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Reply status: success; the payload is JSON.
pub const REPLY_OK: u32 = 0;
/// Reply status: the stage refused; the payload is a JSON `StageError`.
pub const REPLY_STAGE_ERROR: u32 = 1;
/// Reply status: the plugin failed (a panic, an unknown stage, unreadable input); the
/// payload is a UTF-8 message.
pub const REPLY_FAILURE: u32 = 2;

/// Largest reply or text a host accepts from a plugin (64 MiB).
pub const MAX_REPLY_BYTES: usize = 64 << 20;

/// Most stages one plugin may provide.
pub const MAX_STAGES: usize = 64;

/// Borrowed bytes: `len` bytes at `ptr`, or *absent* when `ptr` is null.
///
/// Whoever passes one keeps the bytes alive and unchanged for the duration of the call
/// (host → plugin arguments) or until the reply is freed (plugin → host replies).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawSlice {
    /// First byte, or null for "absent".
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl RawSlice {
    /// The absent value (e.g. a stage without configuration).
    pub const ABSENT: RawSlice = RawSlice {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrows `bytes` (valid while `bytes` is).
    pub fn of(bytes: &[u8]) -> RawSlice {
        RawSlice {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// Borrows `text`, or [`RawSlice::ABSENT`] for `None`.
    pub fn of_optional(text: Option<&str>) -> RawSlice {
        text.map_or(RawSlice::ABSENT, |t| RawSlice::of(t.as_bytes()))
    }
}

/// What a plugin function returns: a status and bytes the plugin allocated. The host
/// copies the bytes, then passes the reply, unchanged, to the plugin's `free_reply`.
#[repr(C)]
#[derive(Debug)]
pub struct RawReply {
    /// [`REPLY_OK`], [`REPLY_STAGE_ERROR`] or [`REPLY_FAILURE`].
    pub status: u32,
    /// The payload.
    pub data: RawSlice,
}

/// One stage of a plugin.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawStage {
    /// Name used in recipes (letters, digits, `-`, `_`).
    pub name: RawSlice,
    /// One line saying what it does.
    pub summary: RawSlice,
    /// The article step(s) it stands in for, or absent.
    pub article_step: RawSlice,
}

/// `configure(stage, config)`: whether `config` (RON text, or absent) is valid for `stage`.
pub type ConfigureFn = extern "C" fn(stage: RawSlice, config: RawSlice) -> RawReply;

/// `probes(stage, config, recipe_json)`: the paths the stage needs observed.
pub type ProbesFn = extern "C" fn(stage: RawSlice, config: RawSlice, recipe: RawSlice) -> RawReply;

/// `plan(stage, config, recipe_json, world_json)`: the actions still needed.
pub type PlanFn =
    extern "C" fn(stage: RawSlice, config: RawSlice, recipe: RawSlice, world: RawSlice) -> RawReply;

/// `free_reply(reply)`: releases a reply returned by one of the functions above.
pub type FreeReplyFn = extern "C" fn(reply: RawReply);

/// The type of [`ENTRY_SYMBOL`]: returns the plugin's descriptor (static, never freed),
/// or null when the plugin cannot describe itself.
pub type EntryFn = unsafe extern "C" fn() -> *const RawDescriptor;

/// What a plugin says about itself (interface version 1).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawDescriptor {
    /// [`INTERFACE_VERSION`]; always the first field, in every version.
    pub interface_version: u32,
    /// `size_of::<RawDescriptor>()` as the plugin was compiled.
    pub descriptor_size: u32,
    /// [`JSON_SCHEMA_VERSION`] as the plugin was compiled.
    pub json_schema: u32,
    /// The plugin's name.
    pub plugin_name: RawSlice,
    /// The plugin's version.
    pub plugin_version: RawSlice,
    /// The thinjail-core version the plugin was built with (informative).
    pub core_version: RawSlice,
    /// Number of entries at `stages`.
    pub stage_count: usize,
    /// The stages.
    pub stages: *const RawStage,
    /// Checks a stage's configuration.
    pub configure: Option<ConfigureFn>,
    /// A stage's probes.
    pub probes: Option<ProbesFn>,
    /// A stage's plan.
    pub plan: Option<PlanFn>,
    /// Frees replies.
    pub free_reply: Option<FreeReplyFn>,
}

/// A descriptor that can live in a `static`: what it points at (its stage list and
/// `'static` strings) is owned by it or lives forever, and is never written after
/// construction.
pub struct StaticDescriptor {
    descriptor: RawDescriptor,
    // Owns the stage list `descriptor.stages` points into.
    _stages: Box<[RawStage]>,
}

// SAFETY: the raw pointers inside designate `'static` strings and the boxed stage
// list owned by this value; none of it is ever mutated, so sharing across threads is
// sharing immutable data.
unsafe impl Sync for StaticDescriptor {}
// SAFETY: as above; moving the value does not move the boxed stage list.
unsafe impl Send for StaticDescriptor {}

impl StaticDescriptor {
    /// A descriptor of `stages` whose other fields come from `template`
    /// (`stage_count` and `stages` are filled in here).
    pub fn new(template: RawDescriptor, stages: Vec<RawStage>) -> Self {
        let stages = stages.into_boxed_slice();
        let descriptor = RawDescriptor {
            stage_count: stages.len(),
            stages: stages.as_ptr(),
            ..template
        };
        StaticDescriptor {
            descriptor,
            _stages: stages,
        }
    }

    /// The pointer an entry function returns.
    pub fn as_ptr(&self) -> *const RawDescriptor {
        &self.descriptor
    }
}

/// Hands `bytes` over to the other side: the returned slice stays valid until
/// [`reclaim_bytes`] is called on it, exactly once.
pub fn leak_bytes(bytes: Vec<u8>) -> RawSlice {
    let boxed: Box<[u8]> = bytes.into_boxed_slice();
    let len = boxed.len();
    let ptr = Box::into_raw(boxed).cast::<u8>();
    RawSlice { ptr, len }
}

/// Frees what [`leak_bytes`] handed over.
///
/// # Safety
///
/// `raw` must come from [`leak_bytes`] in this same library and not have been
/// reclaimed before (the host hands each reply back to `free_reply` exactly once).
pub unsafe fn reclaim_bytes(raw: RawSlice) {
    if raw.ptr.is_null() {
        return;
    }
    let slice = std::ptr::slice_from_raw_parts_mut(raw.ptr.cast_mut(), raw.len);
    // SAFETY: the caller guarantees this is the Box<[u8]> leak_bytes made.
    drop(unsafe { Box::from_raw(slice) });
}

/// Why bytes from the other side cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadSlice {
    /// A null pointer with a non-zero length.
    NullWithLength,
    /// Longer than [`MAX_REPLY_BYTES`].
    TooLong,
}

impl std::fmt::Display for BadSlice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadSlice::NullWithLength => f.write_str("a null pointer with a non-zero length"),
            BadSlice::TooLong => write!(f, "more than {MAX_REPLY_BYTES} bytes"),
        }
    }
}

/// The bytes a [`RawSlice`] designates; `None` when it is absent.
///
/// # Safety
///
/// Unless `raw.ptr` is null, it must point to `raw.len` initialized bytes that stay
/// valid and unchanged for `'a`. The interface's contract gives exactly that for call
/// arguments (during the call) and replies (until `free_reply`).
pub unsafe fn borrow_bytes<'a>(raw: RawSlice) -> Result<Option<&'a [u8]>, BadSlice> {
    if raw.ptr.is_null() {
        return if raw.len == 0 {
            Ok(None)
        } else {
            Err(BadSlice::NullWithLength)
        };
    }
    if raw.len > MAX_REPLY_BYTES {
        return Err(BadSlice::TooLong);
    }
    // SAFETY: non-null, and the caller guarantees `len` readable bytes for 'a; the
    // length is bounded well below isize::MAX.
    Ok(Some(unsafe {
        std::slice::from_raw_parts(raw.ptr, raw.len)
    }))
}

/// Copies the descriptor an entry function returned, after checking that it is one of
/// this interface version.
///
/// # Safety
///
/// `descriptor` must be null or point to a descriptor that starts with a `u32`
/// interface version and, when that version is [`INTERFACE_VERSION`], is a whole
/// [`RawDescriptor`] valid for as long as the library stays loaded.
pub unsafe fn read_descriptor(
    descriptor: *const RawDescriptor,
) -> Result<RawDescriptor, DescriptorProblem> {
    if descriptor.is_null() {
        return Err(DescriptorProblem::Null);
    }
    // SAFETY: every descriptor version starts with a u32 interface version, so this
    // read stays inside whatever the plugin points at.
    let version = unsafe { descriptor.cast::<u32>().read_unaligned() };
    if version != INTERFACE_VERSION {
        return Err(DescriptorProblem::Version(version));
    }
    // SAFETY: a version-1 descriptor is a whole RawDescriptor (caller's contract).
    let copy = unsafe { descriptor.read_unaligned() };
    let size = std::mem::size_of::<RawDescriptor>();
    if (copy.descriptor_size as usize) < size {
        return Err(DescriptorProblem::Size(copy.descriptor_size, size));
    }
    Ok(copy)
}

/// What is wrong with a descriptor before its contents are even looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptorProblem {
    /// The entry function returned null.
    Null,
    /// Another interface version.
    Version(u32),
    /// A descriptor smaller than this version's (its size, ours).
    Size(u32, usize),
}

impl std::fmt::Display for DescriptorProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DescriptorProblem::Null => f.write_str("its entry function returned no descriptor"),
            DescriptorProblem::Version(v) => write!(
                f,
                "it was built for plugin interface version {v}, and this thinjail speaks version {INTERFACE_VERSION}"
            ),
            DescriptorProblem::Size(theirs, ours) => write!(
                f,
                "its descriptor is {theirs} bytes, but a version-{INTERFACE_VERSION} descriptor has {ours}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_symbol_carries_the_interface_version() {
        assert_eq!(ENTRY_SYMBOL, entry_symbol(INTERFACE_VERSION));
        assert_eq!(ENTRY_SYMBOL_NUL, format!("{ENTRY_SYMBOL}\0").as_bytes());
    }

    #[test]
    fn absent_and_bad_slices() {
        // SAFETY: absent slices designate nothing; the others are refused before use.
        unsafe {
            assert_eq!(borrow_bytes(RawSlice::ABSENT), Ok(None));
            let null_with_length = RawSlice {
                ptr: std::ptr::null(),
                len: 3,
            };
            assert_eq!(
                borrow_bytes(null_with_length),
                Err(BadSlice::NullWithLength)
            );
            let huge = RawSlice {
                ptr: [0u8].as_ptr(),
                len: MAX_REPLY_BYTES + 1,
            };
            assert_eq!(borrow_bytes(huge), Err(BadSlice::TooLong));
            let text = "abc";
            assert_eq!(
                borrow_bytes(RawSlice::of(text.as_bytes())),
                Ok(Some(&b"abc"[..]))
            );
        }
    }

    #[test]
    fn descriptors_of_other_versions_are_refused_before_being_read() {
        let future: u32 = 2;
        // SAFETY: only the leading u32 is read for a version other than ours.
        let problem =
            unsafe { read_descriptor(std::ptr::addr_of!(future).cast::<RawDescriptor>()) };
        assert_eq!(problem.unwrap_err(), DescriptorProblem::Version(2));
        // SAFETY: null is checked first.
        assert_eq!(
            unsafe { read_descriptor(std::ptr::null()) }.unwrap_err(),
            DescriptorProblem::Null
        );
    }
}

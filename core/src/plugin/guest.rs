//! The author's side of the plugin interface.
//!
//! A plugin author writes an ordinary [`Stage`], says how to build it from its recipe
//! configuration ([`DeclaredStage`](crate::stage::DeclaredStage)), and exports the library with one line:
//!
//! ```no_run
//! use thinjail_core::stage::{DeclaredStage, Planned, Stage, StageContext, StageError};
//! use thinjail_core::world::World;
//!
//! struct Hello;
//!
//! impl Stage for Hello {
//!     fn name(&self) -> &str { Self::NAME }
//!     fn summary(&self) -> &str { Self::SUMMARY }
//!     fn plan(&self, _: &StageContext<'_>, _: &World) -> Result<Vec<Planned>, StageError> {
//!         Ok(Vec::new())
//!     }
//! }
//!
//! impl DeclaredStage for Hello {
//!     const NAME: &'static str = "hello";
//!     const SUMMARY: &'static str = "says hello, does nothing";
//!     fn from_config(config: Option<&str>) -> Result<Self, StageError> {
//!         thinjail_core::stage::no_config(Self::NAME, config)?;
//!         Ok(Hello)
//!     }
//! }
//!
//! thinjail_core::export_plugin!("hello", env!("CARGO_PKG_VERSION"), [Hello]);
//! ```
//!
//! built as a `cdylib`. The macro exports [`ENTRY_SYMBOL`](super::ENTRY_SYMBOL);
//! everything else — decoding the JSON the host sends, encoding the reply, catching
//! panics so they come back as errors instead of unwinding into the host, freeing
//! replies — is done here, once for every plugin.
//!
//! A plugin must be built with `panic = "unwind"` (Rust's default): with
//! `panic = "abort"` a panicking stage takes thinjail down with it, and the macro
//! refuses to compile.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Once, OnceLock};

use super::{
    borrow_bytes, leak_bytes, reclaim_bytes, RawDescriptor, RawReply, RawSlice, RawStage,
    StaticDescriptor, INTERFACE_VERSION, JSON_SCHEMA_VERSION, REPLY_FAILURE, REPLY_OK,
    REPLY_STAGE_ERROR,
};
use crate::recipe::Recipe;
use crate::stage::{Stage, StageContext, StageDeclaration, StageError};
use crate::world::World;

/// Everything one plugin library exports.
pub struct Exports {
    plugin: &'static str,
    version: &'static str,
    stages: Vec<StageDeclaration>,
    descriptor: StaticDescriptor,
}

impl Exports {
    /// The exports of plugin `plugin` version `version`.
    pub fn new(plugin: &'static str, version: &'static str, stages: Vec<StageDeclaration>) -> Self {
        let text = |s: &'static str| RawSlice::of(s.as_bytes());
        let raw_stages: Vec<RawStage> = stages
            .iter()
            .map(|s| RawStage {
                name: text(s.name),
                summary: text(s.summary),
                article_step: RawSlice::of_optional(s.article_step),
            })
            .collect();
        let template = RawDescriptor {
            interface_version: INTERFACE_VERSION,
            descriptor_size: std::mem::size_of::<RawDescriptor>() as u32,
            json_schema: JSON_SCHEMA_VERSION,
            plugin_name: text(plugin),
            plugin_version: text(version),
            core_version: text(env!("CARGO_PKG_VERSION")),
            stage_count: 0,
            stages: std::ptr::null(),
            configure: Some(configure),
            probes: Some(probes),
            plan: Some(plan),
            free_reply: Some(free_reply),
        };
        Exports {
            plugin,
            version,
            stages,
            descriptor: StaticDescriptor::new(template, raw_stages),
        }
    }

    fn stage(&self, name: &str) -> Result<&StageDeclaration, Failure> {
        self.stages.iter().find(|s| s.name == name).ok_or_else(|| {
            Failure::Plugin(format!(
                "plugin {} {} has no stage {name:?}",
                self.plugin, self.version
            ))
        })
    }
}

/// The exports of the library this copy of thinjail-core is linked into. A plugin is a
/// `cdylib` with its own copy of thinjail-core, so this is per plugin; the host's own
/// copy never sets it.
static EXPORTS: OnceLock<Exports> = OnceLock::new();

/// The body of a plugin's entry symbol (see [`export_plugin!`](crate::export_plugin)):
/// registers the exports on the first call and returns the descriptor; null if
/// building them panicked.
pub fn entry(build: fn() -> Exports) -> *const RawDescriptor {
    install_panic_capture();
    let exports = catch_unwind(|| EXPORTS.get_or_init(build));
    match exports {
        Ok(exports) => exports.descriptor.as_ptr(),
        Err(_) => std::ptr::null(),
    }
}

/// Why a call failed, on the plugin's side.
enum Failure {
    /// The stage refused (its own error, passed on as is).
    Stage(StageError),
    /// The plugin failed: bad input, unknown stage, a panic.
    Plugin(String),
}

impl From<StageError> for Failure {
    fn from(error: StageError) -> Self {
        Failure::Stage(error)
    }
}

fn reply(status: u32, bytes: Vec<u8>) -> RawReply {
    RawReply {
        status,
        data: leak_bytes(bytes),
    }
}

/// Runs one call: decodes nothing itself, but turns every outcome — including a
/// panic — into a reply.
fn guarded(call: impl FnOnce(&Exports) -> Result<Vec<u8>, Failure>) -> RawReply {
    let Some(exports) = EXPORTS.get() else {
        return reply(
            REPLY_FAILURE,
            b"the plugin was called before its entry symbol".to_vec(),
        );
    };
    IN_CALL.with(|flag| flag.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(|| call(exports)));
    IN_CALL.with(|flag| flag.set(false));
    let failure = match outcome {
        Ok(Ok(payload)) => return reply(REPLY_OK, payload),
        Ok(Err(failure)) => failure,
        Err(payload) => {
            let captured = LAST_PANIC.with(|last| last.borrow_mut().take());
            Failure::Plugin(
                captured
                    .unwrap_or_else(|| format!("panicked: {}", panic_message(payload.as_ref()))),
            )
        }
    };
    match failure {
        Failure::Stage(error) => match serde_json::to_vec(&error) {
            Ok(json) => reply(REPLY_STAGE_ERROR, json),
            Err(e) => reply(REPLY_FAILURE, format!("{error} ({e})").into_bytes()),
        },
        Failure::Plugin(message) => reply(REPLY_FAILURE, message.into_bytes()),
    }
}

/// Reads a text argument.
fn text(raw: RawSlice, what: &str) -> Result<Option<String>, Failure> {
    // SAFETY: the host passes arguments that stay valid for the whole call (the
    // interface's contract), and this copies them before returning.
    let bytes = unsafe { borrow_bytes(raw) }
        .map_err(|e| Failure::Plugin(format!("the host passed {what} as {e}")))?;
    bytes
        .map(|b| {
            String::from_utf8(b.to_vec())
                .map_err(|_| Failure::Plugin(format!("the host passed {what} that is not UTF-8")))
        })
        .transpose()
}

fn required_text(raw: RawSlice, what: &str) -> Result<String, Failure> {
    text(raw, what)?.ok_or_else(|| Failure::Plugin(format!("the host passed no {what}")))
}

fn json<T: serde::de::DeserializeOwned>(raw: RawSlice, what: &str) -> Result<T, Failure> {
    let text = required_text(raw, what)?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::Plugin(format!(
            "cannot read the {what} the host sent ({e}); was the plugin built for another thinjail?"
        ))
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(value).map_err(|e| Failure::Plugin(format!("cannot encode the reply: {e}")))
}

fn build(exports: &Exports, stage: RawSlice, config: RawSlice) -> Result<Box<dyn Stage>, Failure> {
    let name = required_text(stage, "stage name")?;
    let config = text(config, "configuration")?;
    let exported = exports.stage(&name)?;
    Ok((exported.build)(config.as_deref())?)
}

extern "C" fn configure(stage: RawSlice, config: RawSlice) -> RawReply {
    guarded(|exports| {
        build(exports, stage, config)?;
        Ok(b"null".to_vec())
    })
}

extern "C" fn probes(stage: RawSlice, config: RawSlice, recipe: RawSlice) -> RawReply {
    guarded(|exports| {
        let built = build(exports, stage, config)?;
        let recipe: Recipe = json(recipe, "recipe")?;
        to_json(&built.probes(&StageContext::new(&recipe)))
    })
}

extern "C" fn plan(
    stage: RawSlice,
    config: RawSlice,
    recipe: RawSlice,
    world: RawSlice,
) -> RawReply {
    guarded(|exports| {
        let built = build(exports, stage, config)?;
        let recipe: Recipe = json(recipe, "recipe")?;
        let world: World = json(world, "world")?;
        to_json(&built.plan(&StageContext::new(&recipe), &world)?)
    })
}

/// Frees a reply of this library (the descriptor's `free_reply`).
extern "C" fn free_reply(reply: RawReply) {
    // SAFETY: the host hands back, once, each reply `guarded` made with leak_bytes.
    unsafe { reclaim_bytes(reply.data) }
}

thread_local! {
    /// Whether this thread is inside a call from the host.
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
    /// The last panic caught inside a call, with its location.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs, once, a panic hook that records panics raised inside host calls (message
/// and location) instead of printing them, and leaves every other panic to the hook
/// that was there before. The hook belongs to this library's own copy of the standard
/// library, so the host's is untouched.
fn install_panic_capture() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CALL.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                let message = format!("panicked{location}: {}", panic_message(info.payload()));
                LAST_PANIC.with(|last| *last.borrow_mut() = Some(message));
            } else {
                previous(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".to_string())
}

/// Exports a plugin library: its name, version and stage types (each an ordinary
/// [`Stage`](crate::stage::Stage) that also implements
/// [`DeclaredStage`](crate::stage::DeclaredStage)).
///
/// ```text
/// thinjail_core::export_plugin!("pkg", env!("CARGO_PKG_VERSION"), [PkgStage]);
/// ```
///
/// (The documentation of this module, `plugin::guest`, shows a whole plugin that
/// compiles.)
///
/// Expands to the one `extern "C"` symbol the host looks for,
/// `thinjail_plugin_v1`; the crate must be a `cdylib` built with `panic = "unwind"`.
#[macro_export]
macro_rules! export_plugin {
    ($name:expr, $version:expr, [$($stage:ty),+ $(,)?]) => {
        #[cfg(not(panic = "unwind"))]
        compile_error!("a thinjail plugin must be built with panic = \"unwind\", so that a panic comes back to thinjail as an error");

        /// The thinjail plugin entry point (interface version 1).
        #[no_mangle]
        pub extern "C" fn thinjail_plugin_v1() -> *const $crate::plugin::RawDescriptor {
            fn exports() -> $crate::plugin::guest::Exports {
                $crate::plugin::guest::Exports::new(
                    $name,
                    $version,
                    ::std::vec![$($crate::stage::StageDeclaration::of::<$stage>()),+],
                )
            }
            $crate::plugin::guest::entry(exports)
        }
    };
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::action::Action;
    use crate::stage::{DeclaredStage, Planned, Probes};

    /// A stage that panics, acts or plans nothing, as its configuration says.
    pub(crate) struct Moody {
        panic: bool,
        act: bool,
    }

    impl Stage for Moody {
        fn name(&self) -> &str {
            Self::NAME
        }
        fn summary(&self) -> &str {
            Self::SUMMARY
        }
        fn probes(&self, ctx: &StageContext<'_>) -> Probes {
            let mut probes = Probes::default();
            probes.path(ctx.layout.jails_dir());
            probes
        }
        fn plan(&self, _: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError> {
            if self.panic {
                panic!("moody stage had a bad day");
            }
            if self.act {
                return Ok(vec![Planned::noted(
                    Action::MakeDir {
                        path: "/usr/local/jails/moody".into(),
                    },
                    "because I can",
                )]);
            }
            if world.observed {
                return Err(StageError::Conflict("observed worlds upset me".into()));
            }
            Ok(Vec::new())
        }
    }

    impl DeclaredStage for Moody {
        const NAME: &'static str = "moody";
        const SUMMARY: &'static str = "plans nothing, or panics";
        fn from_config(config: Option<&str>) -> Result<Self, StageError> {
            let mood = |panic, act| Ok(Moody { panic, act });
            match config {
                None => mood(false, false),
                Some("panic") => mood(true, false),
                Some("act") => mood(false, true),
                Some(other) => Err(StageError::Config(format!("unknown mood {other}"))),
            }
        }
    }

    /// The exports every in-process test of the interface uses (one per test binary).
    pub(crate) fn exports() -> Exports {
        Exports::new("moody", "1.2.3", vec![StageDeclaration::of::<Moody>()])
    }

    fn take(reply: RawReply) -> (u32, String) {
        // SAFETY: a reply of `guarded`, read before it is freed.
        let bytes = unsafe { borrow_bytes(reply.data) }
            .unwrap()
            .unwrap()
            .to_vec();
        let status = reply.status;
        free_reply(reply);
        (status, String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn calls_decode_encode_and_catch_panics() {
        let descriptor = entry(exports);
        // SAFETY: the descriptor `entry` returned lives in EXPORTS.
        let descriptor = unsafe { super::super::read_descriptor(descriptor) }.unwrap();
        assert_eq!(descriptor.stage_count, 1);
        let recipe = Recipe::from_ron(r#"(releases: [(name: "14.3-RELEASE")])"#, "test").unwrap();
        let recipe_json = serde_json::to_vec(&recipe).unwrap();
        let world_json = serde_json::to_vec(&World::empty()).unwrap();
        let stage = RawSlice::of(b"moody");

        let (status, body) = take(configure(stage, RawSlice::of(b"grumpy")));
        assert_eq!(status, REPLY_STAGE_ERROR);
        let error: StageError = serde_json::from_str(&body).unwrap();
        assert_eq!(error, StageError::Config("unknown mood grumpy".into()));

        let (status, body) = take(probes(stage, RawSlice::ABSENT, RawSlice::of(&recipe_json)));
        assert_eq!(status, REPLY_OK);
        let probes: Probes = serde_json::from_str(&body).unwrap();
        assert!(probes
            .paths
            .contains(std::path::Path::new("/usr/local/jails")));

        let (status, body) = take(plan(
            stage,
            RawSlice::ABSENT,
            RawSlice::of(&recipe_json),
            RawSlice::of(&world_json),
        ));
        assert_eq!((status, body.as_str()), (REPLY_OK, "[]"));

        let (status, body) = take(plan(
            stage,
            RawSlice::of(b"panic"),
            RawSlice::of(&recipe_json),
            RawSlice::of(&world_json),
        ));
        assert_eq!(status, REPLY_FAILURE);
        assert!(body.contains("moody stage had a bad day"), "{body}");
        assert!(
            body.contains("guest.rs"),
            "the location is reported: {body}"
        );

        let (status, body) = take(plan(
            RawSlice::of(b"nobody"),
            RawSlice::ABSENT,
            RawSlice::of(&recipe_json),
            RawSlice::of(&world_json),
        ));
        assert_eq!(status, REPLY_FAILURE);
        assert!(body.contains("no stage \"nobody\""), "{body}");

        let (status, body) = take(plan(
            stage,
            RawSlice::ABSENT,
            RawSlice::of(b"{\"not\": \"a recipe\"}"),
            RawSlice::of(&world_json),
        ));
        assert_eq!(status, REPLY_FAILURE);
        assert!(body.contains("cannot read the recipe"), "{body}");
    }
}

//! # thinjail-test-plugin-handmade
//!
//! A plugin that implements the interface by hand, without `export_plugin!`, so that it
//! can break it in ways a proper plugin cannot, for the refusal tests.
//!
//! `THINJAIL_HANDMADE_FLAW` (read when thinjail calls the entry symbol) chooses a
//! broken descriptor: `null`, `version-2`, `schema-2`, `small`, `no-stages`,
//! `bad-stage-name`, `duplicate-stage`, `missing-function`, `not-utf8`. Without it the
//! descriptor is valid and the stages break the calls instead:
//! - `garbage`: `plan` replies "success" with bytes that are not JSON;
//! - `alien`: `plan` replies with an action thinjail does not have;
//! - `odd-status`: `plan` replies with a status the interface does not define;
//! - `bad-probes`: `probes` replies with something that is not a list of probes.

use std::sync::OnceLock;

use thinjail_core::plugin::{
    leak_bytes, reclaim_bytes, RawDescriptor, RawReply, RawSlice, RawStage, StaticDescriptor,
    INTERFACE_VERSION, JSON_SCHEMA_VERSION, REPLY_OK,
};

const STAGES: [&str; 4] = ["garbage", "alien", "odd-status", "bad-probes"];

fn text(s: &'static str) -> RawSlice {
    RawSlice::of(s.as_bytes())
}

fn reply(status: u32, body: &str) -> RawReply {
    RawReply {
        status,
        data: leak_bytes(body.as_bytes().to_vec()),
    }
}

fn stage_name(stage: RawSlice) -> String {
    // SAFETY: thinjail passes arguments valid for the duration of the call.
    let bytes = unsafe { thinjail_core::plugin::borrow_bytes(stage) };
    bytes
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

extern "C" fn configure(_stage: RawSlice, _config: RawSlice) -> RawReply {
    reply(REPLY_OK, "null")
}

extern "C" fn probes(stage: RawSlice, _config: RawSlice, _recipe: RawSlice) -> RawReply {
    if stage_name(stage) == "bad-probes" {
        reply(REPLY_OK, r#"{"paths": "all of them"}"#)
    } else {
        reply(REPLY_OK, r#"{"paths": [], "files": []}"#)
    }
}

extern "C" fn plan(
    stage: RawSlice,
    _config: RawSlice,
    _recipe: RawSlice,
    _world: RawSlice,
) -> RawReply {
    match stage_name(stage).as_str() {
        "garbage" => reply(REPLY_OK, "this is not JSON {"),
        "alien" => reply(REPLY_OK, r#"[{"action": "format_disk", "device": "ada0"}]"#),
        "odd-status" => reply(7, "[]"),
        _ => reply(REPLY_OK, "[]"),
    }
}

extern "C" fn free_reply(reply: RawReply) {
    // SAFETY: every reply above was made with leak_bytes, and thinjail frees each once.
    unsafe { reclaim_bytes(reply.data) }
}

fn descriptor(flaw: &str) -> StaticDescriptor {
    let mut stages: Vec<RawStage> = STAGES
        .iter()
        .map(|name| RawStage {
            name: text(name),
            summary: text("breaks the interface on purpose"),
            article_step: RawSlice::ABSENT,
        })
        .collect();
    let mut descriptor = RawDescriptor {
        interface_version: INTERFACE_VERSION,
        descriptor_size: std::mem::size_of::<RawDescriptor>() as u32,
        json_schema: JSON_SCHEMA_VERSION,
        plugin_name: text("handmade"),
        plugin_version: text("0.0.1"),
        core_version: RawSlice::ABSENT,
        stage_count: 0,
        stages: std::ptr::null(),
        configure: Some(configure),
        probes: Some(probes),
        plan: Some(plan),
        free_reply: Some(free_reply),
    };
    match flaw {
        "version-2" => descriptor.interface_version = 2,
        "schema-2" => descriptor.json_schema = 2,
        "small" => descriptor.descriptor_size = 8,
        "no-stages" => stages.clear(),
        "bad-stage-name" => stages[0].name = text("../etc"),
        "duplicate-stage" => stages[1].name = text("garbage"),
        "missing-function" => descriptor.plan = None,
        "not-utf8" => descriptor.plugin_name = RawSlice::of(b"hand\xffmade"),
        _ => {}
    }
    StaticDescriptor::new(descriptor, stages)
}

/// The entry symbol, written by hand.
#[no_mangle]
pub extern "C" fn thinjail_plugin_v1() -> *const RawDescriptor {
    static DESCRIPTOR: OnceLock<Option<StaticDescriptor>> = OnceLock::new();
    let flaw = std::env::var("THINJAIL_HANDMADE_FLAW").unwrap_or_default();
    let built = DESCRIPTOR.get_or_init(|| (flaw != "null").then(|| descriptor(&flaw)));
    built
        .as_ref()
        .map_or(std::ptr::null(), StaticDescriptor::as_ptr)
}

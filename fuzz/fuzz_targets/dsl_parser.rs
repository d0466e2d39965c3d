//! Any bytes through the `.flow` parser, lowering and canonical printing: must never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relais_dsl::{Diagnostics, FileId};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut diags = Diagnostics::new();
    if let Some(doc) = relais_dsl::syntax::flow::parse(text, FileId(0), &mut diags) {
        let module = relais_dsl::lower::lower_module(&doc, FileId(0), &mut diags);
        let raised = relais_dsl::print::raise::raise_module(&module);
        let _ = relais_dsl::print::flow::print(&raised);
    }
});

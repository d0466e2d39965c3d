//! Tests of the `.flow` parser.
#![allow(clippy::unwrap_used)]

use super::parse;
use crate::diagnostic::Diagnostics;
use crate::span::FileId;

#[test]
fn smoke() {
    let text = r#"
import "common.flow"
property crm.base_url = "http://x"
config crm = http.client { base_url: "${crm.base_url}", timeout: 5s }

/// doc
flow order_to_crm {
  source http.listener api { method: POST, path: "/ticketing/orders" }
  max_concurrency 16
  validate { schema: "schemas/ticketing/order.schema.json" }
  transform file "mappings/order_to_contact.rhai"
  until_successful { max_retries: 5, backoff: { initial: 200ms, max: 10s } } {
    http.request crm { method: PUT, path: "/contacts/#[payload.external_id]" }
  }
  @log1 logger info "Order #[payload.id]" { category: audit }
  choice { when #[a > 1] { flow_ref notify } otherwise { set_payload 1 } }
  transform """
      let x = 1;
      x
  """
  on_error propagate VALIDATION:INVALID, HTTP:NOT_FOUND when #[error.description != ""] {
    set_payload #[ #{ error: error.description } ]
  }
}
sub_flow notify { transfrom x http.request }
"#;
    let mut d = Diagnostics::new();
    let n = parse(text, FileId(0), &mut d);
    println!("{:#?}", d);
    println!("{}", serde_json::to_string_pretty(&n.unwrap().to_json()).unwrap());
    for bad in [
        "flow x { set_variable a 1 }",
        "flow x { ",
        "flow x { set_payload #[ a ",
        "flo",
        "flow x { on_error }",
        "flow x { a: 1 }",
    ] {
        let mut d = Diagnostics::new();
        assert!(parse(bad, FileId(0), &mut d).is_none());
        let d = d.into_vec();
        println!("{bad:?} -> {} {:?} {}", d[0].code, d[0].primary.span, d[0].message);
    }
}

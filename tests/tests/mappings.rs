//! The reference mappings in `flows/mappings/` on the sample data in `flows/data/samples/`: ticketing order ->
//! CRM contact, accreditation -> patient record, accreditation -> transport rights. The clock is fixed so that
//! `updated_at` is reproducible; the access matrix is the real CSV file the flows use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeZone;
use relais_stdlib::{build_engine_with_clock, compile, dynamic_to_json, json_to_dynamic, run, Clock, Limits, Lookups};
use serde_json::{json, Value};

fn flows(path: &str) -> String {
    std::fs::read_to_string(format!("../flows/{path}")).unwrap()
}

fn map(script: &str, sample: &str) -> Value {
    map_with(script, sample, json!({}))
}

fn map_with(script: &str, sample: &str, vars: Value) -> Value {
    let lookups = Lookups::default();
    lookups.add_csv("access_matrix", &flows("data/access_matrix.csv")).unwrap();
    let clock = Clock::fixed(chrono::Utc.with_ymd_and_hms(2024, 7, 26, 9, 15, 30).unwrap());
    let engine = build_engine_with_clock(&Limits::default(), lookups, clock);
    let ast = compile(&engine, &flows(&format!("mappings/{script}")), &[]).unwrap();
    let payload: Value = serde_json::from_str(&flows(&format!("data/samples/{sample}"))).unwrap();
    let mut scope = rhai::Scope::new();
    scope.push_dynamic("payload", json_to_dynamic(&payload).unwrap());
    scope.push_dynamic("attributes", json_to_dynamic(&json!({})).unwrap());
    scope.push_dynamic("vars", json_to_dynamic(&vars).unwrap());
    scope.push_dynamic("correlation_id", "test".into());
    scope.push_dynamic("error", rhai::Dynamic::UNIT);
    dynamic_to_json(&run(&engine, &ast, &mut scope).unwrap()).unwrap()
}

#[test]
fn a_ticketing_order_becomes_a_normalised_crm_contact() {
    assert_eq!(
        map_with("order_to_contact.rhai", "order.json", json!({ "interests": ["swimming", "athletics"] })),
        json!({
            "external_id": "ticketing-ORD-2024-000123",
            "first_name": "Élodie",
            "last_name": "LEFÈVRE",
            "email": "elodie.lefevre@example.fr",
            "phone_e164": "+33612345678",
            "locale": "fr",
            "country_iso2": "FR",
            "interests": ["swimming", "athletics"],
            "opt_in": { "email": true, "sms": false },
            "source": "ticketing",
            "updated_at": "2024-07-26T09:15:30Z",
        })
    );
}

#[test]
fn an_athlete_accreditation_becomes_a_patient_record_without_passport_visa_or_notes() {
    let patient = map("accreditation_to_patient.rhai", "accreditation_athlete.json");
    assert_eq!(
        patient,
        json!({
            "resourceType": "Patient",
            "identifier": [{ "system": "urn:games:accreditation", "value": "ACC-0042" }],
            "name": [{ "family": "MARCHAND", "given": ["Léon"] }],
            "birthDate": "2002-05-17",
            "extension": [
                { "url": "urn:games:nationality", "valueString": "FRA" },
                { "url": "urn:games:team", "valueString": "CNOSF" },
            ],
        })
    );
    let text = patient.to_string();
    for secret in ["19AB12345", "not_required", "asthma"] {
        assert!(!text.contains(secret), "{secret} leaked into the patient record");
    }
}

#[test]
fn transport_rights_follow_the_access_matrix_and_carry_only_partner_fields() {
    assert_eq!(
        map("accreditation_to_transport.rhai", "accreditation_athlete.json"),
        json!({
            "id": "ACC-0042",
            "name": "Léon MARCHAND",
            "category": "athlete",
            "allowed_services": ["transport", "polyclinic", "athletes_village"],
        })
    );
    let official = map("accreditation_to_transport.rhai", "accreditation_official.json");
    assert_eq!(official["allowed_services"], json!(["transport", "polyclinic", "athletes_village"]));
    let text = official.to_string();
    for sensitive in ["FZ998877", "granted", "1979-11-02"] {
        assert!(!text.contains(sensitive), "{sensitive} must not reach the transport app");
    }
}

//! Randomness for simulations and sampling: `random()` and `chance(p)`. Drawn from the operating system's
//! generator (through UUID v4, already in the tree), so there is no seed to manage and no state to share.

use rhai::Engine;
use uuid::Uuid;

use super::{fail, FnResult};
use crate::docs::FunctionDoc;

/// A float uniform in [0, 1): the top 53 random bits of a v4 UUID (122 of its 128 bits are random).
fn random() -> f64 {
    let bits = Uuid::new_v4().as_u128() >> 75;
    bits as f64 / (1u64 << 53) as f64
}

pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("random", random);
    engine.register_fn("chance", |p: f64| -> FnResult<bool> {
        if !(0.0..=1.0).contains(&p) {
            return Err(fail(format!("chance({p}): the probability must be between 0 and 1")));
        }
        Ok(random() < p)
    });
    engine.register_fn("chance", |p: i64| -> FnResult<bool> {
        match p {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(fail(format!("chance({p}): the probability must be between 0 and 1"))),
        }
    });
}

/// Documentation of the random functions.
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "random",
        signature: "random() -> float",
        summary: "A number uniform in [0, 1), from the operating system's random source.",
        examples: &[("let r = random(); r >= 0.0 && r < 1.0", "true")],
    },
    FunctionDoc {
        name: "chance",
        signature: "chance(probability: float) -> bool",
        summary: "True with the given probability (0 to 1): fault injection in simulated systems, sampling.",
        examples: &[("chance(0.0)", "false"), ("chance(1.0)", "true"), ("chance(0)", "false")],
    },
];

#[cfg(test)]
mod tests {
    use super::random;

    #[test]
    fn random_numbers_stay_in_range_and_spread_out() {
        let draws: Vec<f64> = (0..10_000).map(|_| random()).collect();
        assert!(draws.iter().all(|r| (0.0..1.0).contains(r)));
        let below_tenth = draws.iter().filter(|r| **r < 0.1).count();
        // Binomial(10000, 0.1): mean 1000, sd 30; 850..1150 is five standard deviations each side.
        assert!((850..1150).contains(&below_tenth), "{below_tenth} of 10000 below 0.1");
    }
}

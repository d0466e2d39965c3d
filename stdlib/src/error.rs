//! Script failures, classified for the engine.

use rhai::{EvalAltResult, ParseError, ParseErrorType, Position};

/// Why a script failed to compile or run. Positions are 1-based and relative to the script text; the engine maps
/// them back to the flow file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// A resource limit was hit: too many operations, calls nested too deep, an expression too complex, or data
    /// too large. The engine raises it as `EXPRESSION:LIMIT`.
    #[error("script limit exceeded: {message}")]
    Limit {
        /// What was exceeded.
        message: String,
        /// Line of the offending expression, when known.
        line: Option<usize>,
        /// Column of the offending expression, when known.
        column: Option<usize>,
    },
    /// The script failed while running (a function error, a type mismatch, a thrown value...).
    #[error("script error: {message}")]
    Runtime {
        /// The error message, without its position.
        message: String,
        /// Line in the script, when known.
        line: Option<usize>,
        /// Column in the script, when known.
        column: Option<usize>,
    },
    /// The script does not compile (syntax error, unknown variable, forbidden symbol such as `eval`).
    #[error("script does not compile: {message}")]
    Compile {
        /// The error message, without its position.
        message: String,
        /// Line in the script, when known.
        line: Option<usize>,
        /// Column in the script, when known.
        column: Option<usize>,
    },
}

impl ScriptError {
    /// The 1-based `(line, column)` of the error inside the script, when known.
    pub fn position(&self) -> (Option<usize>, Option<usize>) {
        match self {
            Self::Limit { line, column, .. }
            | Self::Runtime { line, column, .. }
            | Self::Compile { line, column, .. } => (*line, *column),
        }
    }

    /// Whether this is a [`ScriptError::Limit`].
    pub fn is_limit(&self) -> bool {
        matches!(self, Self::Limit { .. })
    }
}

fn split_position(pos: Position) -> (Option<usize>, Option<usize>) {
    (pos.line(), pos.position())
}

impl From<ParseError> for ScriptError {
    fn from(err: ParseError) -> Self {
        let (line, column) = split_position(err.1);
        let message = err.0.to_string();
        match *err.0 {
            ParseErrorType::ExprTooDeep | ParseErrorType::LiteralTooLarge(..) | ParseErrorType::TooManyFunctions => {
                Self::Limit { message, line, column }
            }
            _ => Self::Compile { message, line, column },
        }
    }
}

impl From<Box<EvalAltResult>> for ScriptError {
    fn from(err: Box<EvalAltResult>) -> Self {
        // The outermost position is where the failing call sits in the script itself; inner errors of
        // script-defined functions carry positions inside those functions.
        let (line, column) = split_position(err.position());
        let mut inner = err;
        while let EvalAltResult::ErrorInFunctionCall(_, _, next, _) | EvalAltResult::ErrorInModule(_, next, _) = *inner
        {
            inner = next;
        }
        let _inner_position = inner.take_position();
        let message = match &*inner {
            EvalAltResult::ErrorRuntime(value, _) | EvalAltResult::ErrorTerminated(value, _) => value.to_string(),
            other => other.to_string(),
        };
        match *inner {
            EvalAltResult::ErrorTooManyOperations(_)
            | EvalAltResult::ErrorStackOverflow(_)
            | EvalAltResult::ErrorDataTooLarge(..)
            | EvalAltResult::ErrorTooManyVariables(_)
            | EvalAltResult::ErrorTooManyModules(_)
            // Stopped by the meter: past its deadline or out of work (see `meter`).
            | EvalAltResult::ErrorTerminated(..) => Self::Limit { message, line, column },
            EvalAltResult::ErrorParsing(kind, pos) => Self::from(ParseError(Box::new(kind), pos)),
            _ => Self::Runtime { message, line, column },
        }
    }
}

//! `file.write` at run time: the content goes to a hidden temporary file in the target directory, is
//! flushed to disk, then renamed onto the target name (hard-linked, with `if_exists: fail`, so an existing
//! file is never replaced), and the directory is flushed: a reader, or a crash, sees the old file or the
//! whole new one, never a part. Errors: `FILE:EXISTS`, `FILE:BAD_NAME`, `FILE:WRITE`.

use super::{IfExists, WriteParams};
use crate::component::{CallFuture, ComponentNode, Context, StepContext};
use crate::event::{Event, FlowError};
use crate::script::{compile_template_text, TemplatePlan};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A built `file.write` step.
struct FileWrite {
    directory: PathBuf,
    name: TemplatePlan,
    content: Option<TemplatePlan>,
    if_exists: IfExists,
}

pub(super) fn build(params: &WriteParams, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
    Ok(Arc::new(FileWrite {
        directory: PathBuf::from(&params.directory),
        name: compile_template_text(cx.engine, &params.name)?,
        content: params.content.as_deref().map(|c| compile_template_text(cx.engine, c)).transpose()?,
        if_exists: params.if_exists,
    }))
}

/// Whether `name` names a file directly inside the directory (no separator, no `.`/`..`, not empty).
pub(crate) fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Writes `bytes` to `directory/name` atomically.
fn write_atomically(directory: &Path, name: &str, bytes: &[u8], if_exists: IfExists) -> Result<(), FlowError> {
    let failed = |what: &str, e: std::io::Error| {
        FlowError::new("FILE:WRITE", format!("cannot {what} {}: {e}", directory.join(name).display()))
    };
    std::fs::create_dir_all(directory).map_err(|e| failed("create the directory of", e))?;
    let temporary = directory.join(format!(".{name}.relais-{}", uuid::Uuid::new_v4().simple()));
    let target = directory.join(name);
    let result = (|| {
        let mut file = std::fs::File::create_new(&temporary).map_err(|e| failed("create a temporary file for", e))?;
        file.write_all(bytes).map_err(|e| failed("write", e))?;
        file.sync_all().map_err(|e| failed("flush", e))?;
        match if_exists {
            IfExists::Overwrite => std::fs::rename(&temporary, &target).map_err(|e| failed("rename onto", e))?,
            IfExists::Fail => match std::fs::hard_link(&temporary, &target) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(FlowError::new("FILE:EXISTS", format!("{} exists", target.display())))
                }
                Err(e) => return Err(failed("link", e)),
            },
        }
        if let Ok(dir) = std::fs::File::open(directory) {
            dir.sync_all().map_err(|e| failed("flush the directory of", e))?;
        }
        Ok(())
    })();
    // Gone already after a rename; with a link or a failure, the temporary name is removed here.
    let _ = std::fs::remove_file(&temporary);
    result
}

impl ComponentNode for FileWrite {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let name = cx.render(&self.name, &event)?;
            if !plain_name(&name) {
                return Err(FlowError::new(
                    "FILE:BAD_NAME",
                    format!(
                        "`{name}` is not a file name (no `/`, `..` or empty names: the file stays in its directory)"
                    ),
                ));
            }
            let bytes = match &self.content {
                Some(template) => bytes::Bytes::from(cx.render(template, &event)?),
                None => event.payload.to_body(),
            };
            let (directory, if_exists) = (self.directory.clone(), self.if_exists);
            tokio::task::spawn_blocking(move || write_atomically(&directory, &name, &bytes, if_exists))
                .await
                .map_err(|e| FlowError::new("FILE:WRITE", format!("the write stopped: {e}")))??;
            Ok(event)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_the_directory_are_not_file_names() {
        assert!(plain_name("orders-1.json"));
        for bad in ["", ".", "..", "a/b", "../x", "a\\b"] {
            assert!(!plain_name(bad), "{bad}");
        }
    }
}

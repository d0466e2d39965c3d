//! `sftp.write` at run time: the content goes to a hidden temporary file in the target directory on the
//! server (created exclusively, flushed with `fsync@openssh.com` when the server offers it, closed), then
//! is renamed onto the target name. An SFTP rename never replaces a file, so a reader sees no file or the
//! whole new one, never a part: with `if_exists: fail` an existing file stays (`SFTP:EXISTS`); with
//! `overwrite` the old file is removed and the rename made again (a reader may find no file for that
//! moment, never a partial one). Errors: `SFTP:BAD_NAME`, `SFTP:EXISTS`, `SFTP:IO`, `SFTP:CONNECTIVITY`
//! (and the connection's `SFTP:AUTH`, `SFTP:HOST_KEY`).

use super::connection::Fault;
use super::{IfExists, Sftp, WriteParams};
use crate::component::{CallFuture, ComponentNode, Context, StepContext};
use crate::components::file::write::plain_name;
use crate::event::{Event, FlowError};
use crate::script::{compile_template_text, TemplatePlan};
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{OpenFlags, StatusCode};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;

/// A built `sftp.write` step.
struct SftpWrite {
    sftp: Arc<Sftp>,
    directory: String,
    name: TemplatePlan,
    content: Option<TemplatePlan>,
    if_exists: IfExists,
}

pub(super) fn build(params: &WriteParams, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
    Ok(Arc::new(SftpWrite {
        sftp: cx.resource_as::<Sftp>()?,
        directory: params.directory.trim_end_matches('/').to_string(),
        name: compile_template_text(cx.engine, &params.name)?,
        content: params.content.as_deref().map(|c| compile_template_text(cx.engine, c)).transpose()?,
        if_exists: params.if_exists,
    }))
}

/// `directory/name` as a remote path (`name` alone when the directory is the login directory).
pub fn remote_path(directory: &str, name: &str) -> String {
    match directory {
        "" | "." => name.to_string(),
        "/" => format!("/{name}"),
        dir => format!("{}/{name}", dir.trim_end_matches('/')),
    }
}

/// Whether `e` is the server saying the path does not exist.
pub fn no_such_file(e: &SftpError) -> bool {
    matches!(e, SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile)
}

/// Creates `directory` and its missing parents on the server (as `mkdir -p`).
pub async fn create_dirs(session: &SftpSession, directory: &str) -> Result<(), SftpError> {
    let mut path = String::new();
    for part in directory.split('/') {
        if part.is_empty() {
            if path.is_empty() && directory.starts_with('/') {
                path.push('/');
            }
            continue;
        }
        if !path.is_empty() && !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(part);
        if session.metadata(path.clone()).await.is_err() {
            if let Err(e) = session.create_dir(path.clone()).await {
                // Made by someone else in between is as good.
                if !session.metadata(path.clone()).await.is_ok_and(|m| m.is_dir()) {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

impl SftpWrite {
    /// Writes `bytes` to `name` through `session`.
    async fn write(&self, session: &Arc<SftpSession>, name: &str, bytes: &[u8]) -> Result<(), FlowError> {
        let sftp = &self.sftp;
        let target = remote_path(&self.directory, name);
        let temporary = remote_path(&self.directory, &format!(".{name}.relais-{}", uuid::Uuid::new_v4().simple()));
        let outcome = async {
            let flags = OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE | OpenFlags::TRUNCATE;
            let created = || format!("create {temporary}");
            let mut file = match session.open_with_flags(temporary.clone(), flags).await {
                Err(e) if no_such_file(&e) => {
                    create_dirs(session, &self.directory)
                        .await
                        .map_err(|e| (format!("create the directory {}", self.directory), Failed(e.into())))?;
                    session.open_with_flags(temporary.clone(), flags).await
                }
                other => other,
            }
            .map_err(|e| (created(), Failed(e.into())))?;
            let io = async {
                file.write_all(bytes).await?;
                // `fsync@openssh.com` where the server has it (without it, the call answers Ok at once).
                file.sync_all().await.map_err(std::io::Error::from)?;
                file.shutdown().await
            };
            io.await.map_err(|e| (format!("write {temporary}"), Failed(e.into())))?;
            self.rename(session, &temporary, &target).await
        }
        .await;
        let Err((what, refusal)) = outcome else { return Ok(()) };
        let error = match refusal {
            Exists => sftp.error("SFTP:EXISTS", format!("{target} exists on {}", sftp.target())),
            Failed(fault) => sftp.failed(session, &what, fault).await,
        };
        // After a failure the temporary name is removed, if the connection still allows it.
        let _ = session.remove_file(temporary).await;
        Err(error)
    }

    /// Renames `temporary` onto `target`, replacing it only with `if_exists: overwrite`.
    async fn rename(&self, session: &SftpSession, temporary: &str, target: &str) -> Result<(), (String, Refusal)> {
        let what = || format!("rename {temporary} to {target}");
        let Err(e) = session.rename(temporary, target).await else { return Ok(()) };
        // An SFTP rename never replaces: find out whether the target was in the way.
        if session.metadata(target).await.is_err() {
            return Err((what(), Failed(e.into())));
        }
        match self.if_exists {
            IfExists::Fail => Err((what(), Exists)),
            IfExists::Overwrite => {
                session
                    .remove_file(target)
                    .await
                    .map_err(|e| (format!("remove the old {target}"), Failed(e.into())))?;
                session.rename(temporary, target).await.map_err(|e| (what(), Failed(e.into())))
            }
        }
    }
}

/// Why a write did not land.
enum Refusal {
    /// The target exists and `if_exists: fail`.
    Exists,
    /// The server or the connection failed.
    Failed(Fault),
}
use Refusal::{Exists, Failed};

impl ComponentNode for SftpWrite {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let name = cx.render(&self.name, &event)?;
            if !plain_name(&name) {
                return Err(FlowError::new(
                    "SFTP:BAD_NAME",
                    format!(
                        "`{name}` is not a file name (no `/`, `..` or empty names: the file stays in its directory)"
                    ),
                ));
            }
            let bytes = match &self.content {
                Some(template) => bytes::Bytes::from(cx.render(template, &event)?),
                None => event.payload.to_body(),
            };
            let metrics = cx.metrics().outbound(self.sftp.name());
            let started = Instant::now();
            let outcome = match self.sftp.session().await {
                Ok(session) => self.write(&session, &name, &bytes).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => {
                    // Counted as a request answered 200: written, as the other outbound systems count success.
                    metrics.exchange(started.elapsed(), Some(200));
                    Ok(event)
                }
                Err(e) => {
                    metrics.exchange(started.elapsed(), None);
                    metrics.error(&e.error_type.to_string(), None);
                    Err(e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::remote_path;

    #[test]
    fn remote_paths_join_with_one_slash() {
        assert_eq!(remote_path("/srv/in", "a.csv"), "/srv/in/a.csv");
        assert_eq!(remote_path("/srv/in/", "a.csv"), "/srv/in/a.csv");
        assert_eq!(remote_path("", "a.csv"), "a.csv");
        assert_eq!(remote_path("/", "a.csv"), "/a.csv");
        assert_eq!(remote_path("in", "a.csv"), "in/a.csv");
    }
}

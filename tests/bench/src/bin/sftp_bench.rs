//! `sftp.listener` throughput: an N-line file read from an SFTP server through a relais flow
//! (`sftp.listener` with `split: lines`, one event per line, a `set_variable` step each) next to the same
//! file read line by line with russh + russh-sftp directly (the client crates relais's connector is built
//! on), in one run against an OpenSSH sshd this benchmark starts on a free loopback port with throwaway
//! keys (as `engine/tests/support/sftp.rs` does; needs `/usr/sbin/sshd`, run as root). Each round times the
//! baseline and relais back to back; medians and their ratio are printed at the end. The relais figure
//! includes the listener's stable-size check (one extra listing, 20 ms apart) and the move to
//! `processed/`. Run on a quiet machine:
//! `cargo run -p relais-bench --release --bin sftp_bench [LINES] [ROUNDS]`.

use relais_bench::versus::{fail, flow_runtime, Comparison};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

fn run(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).to_string(),
        Ok(out) => fail(format!("{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr))),
        Err(e) => fail(format!("cannot run {program} ({e}); apt-get install openssh-server")),
    }
}

/// A throwaway sshd: its directory, port, client key and known_hosts file.
struct Server {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Server {
    fn start() -> Server {
        let dir = std::env::temp_dir().join(format!("relais-sftp-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data/inbox")).unwrap_or_else(|e| fail(e));
        std::fs::create_dir_all("/run/sshd").unwrap_or_else(|e| fail(e));
        for key in ["host_key", "client_key"] {
            run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", &dir.join(key).display().to_string()]);
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap_or_else(|e| fail(e));
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap_or_else(|e| fail(e));
        let port = port.port();
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap_or_else(|e| fail(e));
        std::fs::write(dir.join("known_hosts"), format!("[127.0.0.1]:{port} {host_pub}")).unwrap_or_else(|e| fail(e));
        let d = dir.display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPermitRootLogin yes\n\
             PasswordAuthentication no\nSubsystem sftp internal-sftp\n"
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap_or_else(|e| fail(e));
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| fail(format!("cannot start /usr/sbin/sshd ({e})")));
        // Until the port accepts connections (at most 30 s).
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > until {
                fail("sshd does not listen");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { dir, port, child }
    }

    fn user() -> String {
        run("id", &["-un"]).trim().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The baseline's SSH client: the host key checked against the known_hosts file, as relais does.
struct Client {
    known_hosts: PathBuf,
    port: u16,
}

impl russh::client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => {
                Ok(russh::keys::check_known_hosts_path("127.0.0.1", self.port, key, &self.known_hosts).unwrap_or(false))
            }
            russh::keys::PublicKeyOrCertificate::Certificate(_) => Ok(false),
        }
    }
}

/// Reads `path` line by line with russh + russh-sftp on a fresh connection; the number of lines.
async fn direct(server: &Server, path: &Path) -> (Duration, usize) {
    let started = Instant::now();
    let client = Client { known_hosts: server.dir.join("known_hosts"), port: server.port };
    let config = Arc::new(russh::client::Config { nodelay: true, ..Default::default() });
    let mut handle =
        russh::client::connect(config, ("127.0.0.1", server.port), client).await.unwrap_or_else(|e| fail(e));
    let key = russh::keys::load_secret_key(server.dir.join("client_key"), None).unwrap_or_else(|e| fail(e));
    let key = russh::keys::PrivateKeyWithHashAlg::new(Arc::new(key), None);
    if !handle.authenticate_publickey(Server::user(), key).await.unwrap_or_else(|e| fail(e)).success() {
        fail("the key was refused");
    }
    let channel = handle.channel_open_session().await.unwrap_or_else(|e| fail(e));
    channel.request_subsystem(true, "sftp").await.unwrap_or_else(|e| fail(e));
    let sftp = russh_sftp::client::SftpSession::new(channel.into_stream()).await.unwrap_or_else(|e| fail(e));
    let file = sftp.open(path.display().to_string()).await.unwrap_or_else(|e| fail(e));
    let mut lines = tokio::io::BufReader::with_capacity(64 * 1024, file).lines();
    let mut n = 0;
    while let Some(line) = lines.next_line().await.unwrap_or_else(|e| fail(e)) {
        std::hint::black_box(line);
        n += 1;
    }
    (started.elapsed(), n)
}

/// Drops `text` as a new file in the listener's inbox and waits until it is in `processed/`.
async fn through_relais(inbox: &Path, name: &str, text: &str) -> Duration {
    let started = Instant::now();
    // Written under a hidden name and renamed, so the listener never sees a part of it.
    let hidden = inbox.join(format!(".{name}"));
    std::fs::write(&hidden, text).unwrap_or_else(|e| fail(e));
    std::fs::rename(&hidden, inbox.join(name)).unwrap_or_else(|e| fail(e));
    let done = inbox.join("processed").join(name);
    let until = Instant::now() + Duration::from_secs(600);
    while !done.exists() {
        if Instant::now() > until {
            fail(format!("{name} was not processed within 10 minutes"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let lines: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let server = Server::start();
    let inbox = server.dir.join("data/inbox");
    let mut text = String::with_capacity(lines * 40);
    for i in 0..lines {
        text.push_str(&format!("{i},partner-{i},FR,2026-07-26T16:30:00Z\n"));
    }
    let baseline_file = server.dir.join("data/baseline.csv");
    std::fs::write(&baseline_file, &text).unwrap_or_else(|e| fail(e));

    let flows = format!(
        "configs:\n  partner: {{ sftp: {{ host: 127.0.0.1, port: {port}, user: {user}, private_key: \"{key}\", known_hosts: \"{known}\" }} }}\n\
         flows:\n  intake:\n    source: {{ sftp.listener: {{ config: partner, directory: \"{inbox}\", pattern: \"*.csv\", frequency: 20ms, split: lines, consumers: 8 }} }}\n    steps:\n      - set_variable: {{ name: seen, value: \"#[attributes.record]\" }}\n",
        port = server.port,
        user = Server::user(),
        key = server.dir.join("client_key").display(),
        known = server.dir.join("known_hosts").display(),
        inbox = inbox.display(),
    );
    let runtime = flow_runtime(&server.dir.join("flows"), &flows);
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), runtime).await.unwrap_or_else(|e| fail(e));

    println!(
        "workload: a file of {lines} lines ({} bytes), {rounds} round(s), sshd on 127.0.0.1:{}",
        text.len(),
        server.port
    );
    let mut comparison = Comparison::new("russh-sftp direct", "relais sftp.listener", "lines/s");
    for round in 0..rounds {
        let (b, n) = direct(&server, &baseline_file).await;
        if n != lines {
            fail(format!("the baseline read {n} lines of {lines}"));
        }
        let r = through_relais(&inbox, &format!("round-{round}.csv"), &text).await;
        comparison.round(lines, b, r);
    }
    comparison.finish();
    daemon.shutdown(Duration::from_secs(10)).await;
}

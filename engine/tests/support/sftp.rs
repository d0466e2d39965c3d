//! A real SFTP server per test: Debian's OpenSSH `sshd` on a free loopback port, with a throwaway host key
//! and client key made by `ssh-keygen` in a directory of the test's own, `internal-sftp` as the SFTP
//! subsystem, key authentication for the current user (root on the development and CI machines). It can
//! be killed (with every connection process it forked) and started again on the same port, the way a
//! server restart looks to a client.
//!
//! [`SftpServer::start_with_password`] adds a throwaway account that logs in with a password, without
//! touching the machine's users: sshd runs in a mount namespace of its own (`unshare --mount`, root only)
//! where copies of `/etc/passwd` and `/etc/shadow` holding one more line are bind-mounted over the real
//! ones. The machine's files, its own sshd and every other process see nothing of it, and the account
//! disappears with the server. [`SftpServer::start_with_keyboard_interactive`] makes the same account's
//! server take the password through PAM as a `keyboard-interactive` answer only, the way OpenSSH is often
//! set up.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";
const INSTALL: &str =
    "install it with `apt-get install openssh-server` (`.ci/run` does when /usr/sbin/sshd is missing)";

/// How long the server may take to start on a loaded machine.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// One running (or stopped) sshd and its files.
pub struct SftpServer {
    /// The test's directory: keys, config, and `data/`, where tests put and find files.
    pub dir: PathBuf,
    /// The loopback port it listens on (kept across restarts).
    pub port: u16,
    /// The client's private key (no passphrase), authorised for the current user.
    pub client_key: PathBuf,
    /// A known_hosts file listing the server's host key for `[127.0.0.1]:port`.
    pub known_hosts: PathBuf,
    /// The host key's SHA-256 fingerprint as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The current user's name, which the configs log in as.
    pub user: String,
    /// The throwaway password account, when started with [`SftpServer::start_with_password`].
    pub account: Option<Account>,
    child: Option<Child>,
    /// Every line sshd logged, for the failure messages and the tests that read them.
    pub log: Arc<Mutex<Vec<String>>>,
}

fn run(program: &str, args: &[&str]) -> String {
    let out =
        Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program} ({e}); {INSTALL}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A login that exists only inside the server's mount namespace: a user name, its password, the uid
/// that owns `data/` (and every file the account writes there), and how the server takes the password.
#[derive(Clone, Debug)]
pub struct Account {
    pub user: String,
    pub password: String,
    pub uid: u32,
    /// Through PAM and `keyboard-interactive` only (`UsePAM yes`, `PasswordAuthentication no`), as many
    /// servers do, rather than the `password` method.
    pub keyboard_interactive: bool,
}

/// The first uid from 64100 that `/etc/passwd` does not use, so the account's files are told apart from
/// every real user's.
fn free_uid() -> u32 {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let used: Vec<u32> = passwd.lines().filter_map(|l| l.split(':').nth(2)?.parse().ok()).collect();
    (64100..65000).find(|uid| !used.contains(uid)).unwrap()
}

/// Generates an Ed25519 key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", "relais-test", "-f", &path.display().to_string()]);
}

impl SftpServer {
    /// Starts a server in a fresh directory; panics, saying how to install it, when sshd is missing.
    pub fn start() -> SftpServer {
        SftpServer::start_as(None)
    }

    /// Starts a server that also lets `user` log in with `password` (see the module's doc); `data/` belongs
    /// to that account, which is a user of its own (not root): the key login of the current user still works.
    pub fn start_with_password(user: &str, password: &str) -> SftpServer {
        SftpServer::start_with_account(user, password, false)
    }

    /// [`SftpServer::start_with_password`], the server taking the password through PAM as the answer to a
    /// `keyboard-interactive` prompt only (the `password` method refused), as OpenSSH's usual PAM setups do.
    pub fn start_with_keyboard_interactive(user: &str, password: &str) -> SftpServer {
        assert!(Path::new("/etc/pam.d/sshd").exists(), "/etc/pam.d/sshd is missing (openssh-server installs it)");
        SftpServer::start_with_account(user, password, true)
    }

    fn start_with_account(user: &str, password: &str, keyboard_interactive: bool) -> SftpServer {
        assert!(Path::new("/usr/bin/unshare").exists(), "/usr/bin/unshare is missing (util-linux)");
        let account =
            Account { user: user.to_string(), password: password.to_string(), uid: free_uid(), keyboard_interactive };
        SftpServer::start_as(Some(account))
    }

    fn start_as(account: Option<Account>) -> SftpServer {
        assert!(Path::new(SSHD).exists(), "{SSHD} is missing; {INSTALL}");
        // sshd insists on its privilege separation directory, even for a server of the test's own.
        std::fs::create_dir_all("/run/sshd").unwrap_or_else(|e| panic!("cannot create /run/sshd ({e})"));
        let dir = super::write_files(&[]);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("client_key"));
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
        let fingerprint = run("ssh-keygen", &["-l", "-f", &dir.join("host_key.pub").display().to_string()])
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string();
        let user = run("id", &["-un"]).trim().to_string();
        if let Some(account) = &account {
            add_account(&dir, account);
        }
        let d = dir.display();
        let passwords = match account.as_ref().is_some_and(|a| a.keyboard_interactive) {
            true => "UsePAM yes\nPasswordAuthentication no\nKbdInteractiveAuthentication yes",
            false => "UsePAM no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no",
        };
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPermitRootLogin yes\n{passwords}\n\
                 MaxStartups 100\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n"
            ),
        )
        .unwrap();
        let mut server = SftpServer {
            client_key: dir.join("client_key"),
            known_hosts,
            fingerprint,
            user,
            account,
            dir,
            port,
            child: None,
            log: Arc::default(),
        };
        server.resume();
        server
    }

    /// The directory files are put in and found, as a path the server sees.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// An `sftp` config for this server in flow YAML (flow-style map), logging in with the client key and
    /// checking the host key against `known_hosts`.
    pub fn config(&self) -> String {
        format!(
            "sftp: {{ host: 127.0.0.1, port: {}, user: {}, private_key: \"{}\", known_hosts: \"{}\", connect_timeout: 10s, timeout: 5s }}",
            self.port,
            self.user,
            self.client_key.display(),
            self.known_hosts.display()
        )
    }

    /// An `sftp` config for this server logging in as the password account, the password read from the
    /// environment variable `secret` (set here) through `${secret:...}`, so it never appears in the flow.
    pub fn password_config(&self, secret: &str) -> String {
        let account = self.account.as_ref().expect("a server started with start_with_password");
        std::env::set_var(secret, &account.password);
        format!(
            "sftp: {{ host: 127.0.0.1, port: {}, user: {}, password: \"${{secret:{secret}}}\", known_hosts: \"{}\", connect_timeout: 10s, timeout: 5s }}",
            self.port,
            account.user,
            self.known_hosts.display()
        )
    }

    /// The command that runs sshd in the foreground: directly, or, with a password account, in a mount
    /// namespace of its own where the account's passwd and shadow files cover the machine's. `unshare` and
    /// `sh` both exec, so the child's pid is sshd's and [`SftpServer::kill`] finds its connections.
    fn command(&self) -> Command {
        let config = self.dir.join("sshd_config");
        match &self.account {
            None => {
                let mut command = Command::new(SSHD);
                command.args(["-D", "-e", "-f"]).arg(config);
                command
            }
            Some(_) => {
                let d = self.dir.display();
                let mut command = Command::new("/usr/bin/unshare");
                command.args(["--mount", "--propagation", "private", "sh", "-c"]).arg(format!(
                    "mount --bind {d}/passwd /etc/passwd && mount --bind {d}/shadow /etc/shadow && exec {SSHD} -D -e -f {}",
                    config.display()
                ));
                command
            }
        }
    }

    /// Starts sshd again on the same port, and waits until it listens.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the server runs already");
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SSHD} ({e}); {INSTALL}"));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let until = Instant::now() + START_DEADLINE;
        loop {
            assert!(Instant::now() < until, "sshd did not start listening; it logged:\n{}", self.logged());
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) if line.contains("Server listening") => break,
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("sshd stopped at start; it logged:\n{}", self.logged())
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("sshd exited at start ({status}); it logged:\n{}", self.logged());
            }
        }
        self.child = Some(child);
    }

    /// Kills sshd and every connection process it forked (SIGKILL), as a crash or a pulled cable looks
    /// to the client: the connections break, nothing listens on the port until [`SftpServer::resume`].
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let mut family = descendants(child.id());
        family.push(child.id());
        for pid in family.iter().rev() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
        }
        let _ = child.wait();
    }

    /// Everything sshd logged so far.
    pub fn logged(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// Writes `passwd` and `shadow` in `dir`: the machine's, plus the account (home `data/`, no shell: it may
/// use SFTP only) with its password hashed by `openssl passwd -6` (SHA-512 crypt, which sshd's `crypt()`
/// checks); `data/` is given to the account.
fn add_account(dir: &Path, account: &Account) {
    let hash = run("openssl", &["passwd", "-6", "-salt", "relaistest", &account.password]).trim().to_string();
    let Account { user, uid, .. } = account;
    let home = dir.join("data");
    let mut passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd.push_str(&format!("{user}:x:{uid}:{uid}:relais test account:{}:/usr/sbin/nologin\n", home.display()));
    std::fs::write(dir.join("passwd"), passwd).unwrap();
    let mut shadow =
        std::fs::read_to_string("/etc/shadow").unwrap_or_else(|e| panic!("cannot read /etc/shadow ({e}): run as root"));
    shadow.push_str(&format!("{user}:{hash}:20000:0:99999:7:::\n"));
    let shadow_path = dir.join("shadow");
    std::fs::write(&shadow_path, shadow).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shadow_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&home, Some(*uid), Some(*uid)).unwrap();
}

/// The processes descended from `pid`, read from `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(id) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid ...`: the name may hold spaces, so read after the last `)`.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
        if let Some(ppid) = ppid {
            parents.push((id, ppid));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (child, _) in parents.iter().filter(|(_, parent)| *parent == p) {
            found.push(*child);
            frontier.push(*child);
        }
    }
    found
}

impl Drop for SftpServer {
    fn drop(&mut self) {
        self.kill();
    }
}

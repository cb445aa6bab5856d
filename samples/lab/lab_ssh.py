"""The management plane of a lab switch: a login user and an sshd of its own on 127.0.0.1.

Two login modes, as switches come: `vtysh` (the login shell is the switch's vtysh, as on a
router CLI) and `bash` (a Linux shell whose user may run `sudo vtysh`, as on SONiC or Cumulus; with
`nft`, also `sudo nft`, which runs nft inside the switch's namespace: policy enforcement).
The sshd runs in the root namespace and listens on 127.0.0.1 only; its host key goes into a
known_hosts file so clients can verify it.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from lab_host import (
    LabError,
    Ledger,
    add_user,
    cmdline,
    kill_pid,
    pids_matching,
    run,
    user_exists,
    wait_for,
    write_file,
)

Login = Literal["vtysh", "bash"]
PRIVSEP_DIR = Path("/run/sshd")  # sshd's privilege-separation directory; nothing creates it without systemd
SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

SSHD_CONFIG = """Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/hostkey
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers {user}
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
"""


@contextmanager
def shared_lock() -> Iterator[None]:
    """Serialises creating and removing what several labs share (/run/sshd): a lock on /run leaves no file."""
    fd = os.open("/run", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_privsep_dir(ledger: Ledger) -> None:
    """Make /run/sshd unless it exists (call with `shared_lock` held, up to the sshd's start)."""
    if not PRIVSEP_DIR.exists():
        ledger.record("privsep-dir", path=str(PRIVSEP_DIR))
        PRIVSEP_DIR.mkdir(mode=0o755)


def release_privsep_dir(path: str) -> None:
    """Remove /run/sshd if this lab made it and no sshd (of anyone) still needs it."""
    with shared_lock():
        if Path(path).exists() and not pids_matching("sshd"):
            Path(path).rmdir()


def client_key(path: Path) -> None:
    """An ed25519 key pair for the lab's clients (`path` and `path`.pub)."""
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fabric-intent-lab", "-f", str(path))


def login_shell(bindir: Path, pathspace: str, login: Login) -> Path:
    """The switch's vtysh wrapper (its login shell in vtysh mode, what `sudo vtysh` runs in bash mode)."""
    wrapper = write_file(bindir / "vtysh", "#!/bin/sh\nunset VTYSH_PAGER\n"
                         f'exec /usr/bin/vtysh -N {pathspace} "$@"\n', 0o755)
    return wrapper if login == "vtysh" else Path("/bin/bash")


def nft_wrapper(bindir: Path, netns: str) -> Path:
    """What `sudo nft` runs for the switch's user: nft inside the switch's namespace (sshd runs outside it)."""
    ip = shutil.which("ip") or "/usr/sbin/ip"
    return write_file(bindir / "nft", f'#!/bin/sh\nexec {ip} netns exec {netns} /usr/sbin/nft "$@"\n', 0o755)


def add_login_user(ledger: Ledger, user: str, rundir: Path, pathspace: str, login: Login, *,
                   nft: bool = False) -> None:
    """The switch's login user: member of frrvty and frr (vty sockets and the instance's directories).

    With `nft` (bash login only) the user may also run `sudo nft` on the switch's namespace (`pathspace`).
    """
    if nft and login != "bash":
        raise LabError(f"{user}: nft needs the bash login (vtysh cannot run it)")
    shell = login_shell(rundir / "bin", pathspace, login)
    commands = [str(rundir / "bin" / "vtysh")] + ([str(nft_wrapper(rundir / "bin", pathspace))] if nft else [])
    home = rundir / "home"
    home.mkdir(parents=True, exist_ok=True)
    ledger.claim("user", user_exists(user), f"user {user}", name=user)
    add_user(user, shell=str(shell), home=home, groups=("frrvty", "frr"))
    if login == "bash":
        sudoers = Path("/etc/sudoers.d") / user
        ledger.claim("path", sudoers.exists(), str(sudoers), path=str(sudoers))
        write_file(sudoers, f'Defaults:{user} secure_path="{rundir / "bin"}:{SAFE_PATH}"\n'
                            f"{user} ALL=(root) NOPASSWD: {', '.join(commands)}\n", 0o440)
        run("visudo", "-cqf", str(sudoers))


def set_password(user: str, password_file: Path) -> None:
    """A random password for the user, kept in a 0600 file (for clients that log in by password)."""
    password = secrets.token_urlsafe(18)
    write_file(password_file, password, 0o600)
    run("chpasswd", input=f"{user}:{password}\n")


def start_sshd(ledger: Ledger, sshd_dir: Path, user: str, port: int, public_key: str) -> str:
    """Start the switch's sshd; returns its known_hosts line."""
    sshd_dir.mkdir(parents=True, exist_ok=True)
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(sshd_dir / "hostkey"))
    write_file(sshd_dir / "authorized_keys", public_key, 0o644)
    config = write_file(sshd_dir / "sshd_config", SSHD_CONFIG.format(port=port, dir=sshd_dir, user=user))
    ledger.record("sshd", pidfile=str(sshd_dir / "sshd.pid"), config=str(config))
    with shared_lock():  # another lab's tear-down must not remove /run/sshd before this sshd runs
        ensure_privsep_dir(ledger)
        run("/usr/sbin/sshd", "-f", str(config), "-E", str(sshd_dir / "sshd.log"))
    try:  # our sshd, not whoever else may have taken the port since it was found free
        wait_for(f"sshd on 127.0.0.1:{port}",
                 lambda: sshd_running(sshd_dir / "sshd.pid", str(config)) and _listening(port), timeout=15)
    except LabError as exc:
        log = (sshd_dir / "sshd.log").read_text() if (sshd_dir / "sshd.log").exists() else ""
        raise LabError(f"{exc}; sshd said: {log.strip()[-500:]}") from None
    key_type, key = (sshd_dir / "hostkey.pub").read_text().split()[:2]
    return f"[127.0.0.1]:{port} {key_type} {key}"


def stop_sshd(pidfile: str, config: str) -> None:
    """Kill the sshd of this config (checking the PID really is it) and its sessions."""
    path = Path(pidfile)
    if path.exists():
        pid = int(path.read_text().split()[0])
        if config in cmdline(pid):
            kill_pid(pid)
    for pid in pids_matching("sshd", config):
        kill_pid(pid)


def sshd_running(pidfile: Path, config: str) -> bool:
    """Whether the sshd of this config runs (the PID in its PidFile is really it)."""
    try:
        return config in cmdline(int(pidfile.read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return False


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False

#pragma once
// SSH for images that cannot offer it themselves (container images: no init,
// no sshd). The initramfs carries dropbear with its own glibc in /dropbear
// (scripts/build-kernel.sh); its ELF interpreter and RPATH point into
// /run/banger/dropbear, so it runs whatever libc the image has, or none, and
// also when dropbear re-executes itself per connection. banger-init binds
// that directory there (on a tmpfs /run: the image is not written), writes
// the VM's host key beside it and starts dropbear on port 22, key logins
// only, with the authorized_keys provision() put in /root/.ssh.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace banger::init {

/// The bundle in the initramfs, and where the running VM sees it.
inline constexpr const char* dropbear_bundle = "/dropbear";
inline constexpr const char* fallback_dir = "/run/banger";
inline constexpr const char* fallback_bundle_dir = "/run/banger/dropbear";
inline constexpr const char* fallback_host_key =
    "/run/banger/dropbear_ed25519_host_key";

/// Where images keep an SSH server their init may start (inside the image).
const std::vector<std::string>& sshd_paths();

/// True if `is_executable` accepts one of sshd_paths(). Pure.
bool image_has_sshd(
    const std::function<bool(const std::string&)>& is_executable);

/// Who serves SSH in the VM:
///   image       the image's init starts its own sshd: nothing to do;
///   daemon      the image has an init but no sshd: banger-init starts the
///               fallback once before handing PID 1 over;
///   supervised  no init: banger-init stays PID 1 and restarts the fallback
///               when it dies (an image's sshd would have nobody to start it).
enum class ssh_mode { image, daemon, supervised };
ssh_mode choose_ssh_mode(bool has_init, bool has_sshd);

/// root's login shell from /etc/passwd text: the 7th field of the first
/// "root:" line; "/bin/sh" when there is no such line or the field is empty
/// (what login programs assume). Pure.
std::string root_shell(std::string_view passwd);

/// What would make dropbear refuse or break root's login, one console line
/// each (empty: none): no /etc/passwd or no root in it, a shell that is not
/// executable, or one /etc/shells does not list. `passwd`/`shells` are the
/// files' contents (nullopt: absent). Pure.
std::vector<std::string>
login_problems(const std::optional<std::string>& passwd,
               const std::optional<std::string>& shells,
               const std::function<bool(const std::string&)>& is_executable);

/// The fallback dropbear's command line: in the foreground (the caller
/// decides who waits for it), logging to stderr, keys only, with the VM's
/// host key and a pid file under /run/banger. Pure.
std::vector<std::string> dropbear_argv();

/// Before the root switch: a descriptor of the initramfs bundle (O_PATH), or
/// -1 if the initramfs has none. switch_root() keeps the directory.
int open_dropbear_bundle();

/// After the switch: a tmpfs on /run unless /run is already a mount point
/// (systemd keeps it), /run/banger, the bundle bound read-only at
/// /run/banger/dropbear, and devpts on /dev/pts. False (with console lines)
/// if the fallback cannot run.
bool prepare_fallback(int bundle_fd);

/// The bundle is not needed: frees its files in the (detached) initramfs.
void discard_bundle(int bundle_fd);

/// Forks and execs dropbear_argv() in its own session, stdin from
/// /dev/null, stdout/stderr to the console. Returns its pid, or -1.
pid_t start_dropbear();

} // namespace banger::init

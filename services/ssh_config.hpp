#pragma once
// banger's SSH material: the user key, banger's own ssh config and
// known_hosts, and the one Include line in ~/.ssh/config that makes
// `ssh box.vm` use them.
//
//   $XDG_STATE_HOME/banger/ssh/id_ed25519{,.pub}  the key injected into VMs
//   $XDG_STATE_HOME/banger/ssh/config             `Host *.vm` (written here)
//   $XDG_STATE_HOME/banger/ssh/known_hosts        VM host keys, by VM name
//
// Host keys: entries are keyed by the name the user types (`box.vm`), never
// by IP (CheckHostIP no), so a reused guest IP is never looked at. The
// daemon replaces a VM's entry (known_hosts_set) when it learns the VM's host
// key at boot and drops it (known_hosts_remove) when the VM is deleted, so a
// recreated `box` never meets a stale key. ssh itself only ever adds an entry
// for a name banger did not record yet (StrictHostKeyChecking accept-new), so
// it never prompts. `StrictHostKeyChecking no` was rejected: on a changed key
// it still connects but silently disables port and agent forwarding and
// drops MITM detection, which breaks `ssh -L` while hiding the cause.
// ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts are never read or written
// for *.vm (UserKnownHostsFile / GlobalKnownHostsFile), and entries stay
// unhashed (HashKnownHosts no; Debian's default is yes) so that the daemon
// can find and replace them.
//
// Everything here blocks (files, ssh-keygen): CLI or detached workers only.

#include <string>

#include <caf/expected.hpp>

#include "services/paths.hpp"

namespace banger {

/// The private key, `<state>/ssh/id_ed25519`; the public one adds ".pub".
std::string ssh_dir(const paths& p);
std::string ssh_key_path(const paths& p);
std::string ssh_config_path(const paths& p);
std::string known_hosts_path(const paths& p);

/// The `banger` executable next to the running program (banger or bangerd).
std::string banger_executable();
/// The text of banger's ssh config for `*.vm` (see the header comment).
std::string ssh_config_text(const paths& p);

/// The first line of the block install_include puts at the top of
/// ~/.ssh/config; the Include line follows it.
inline constexpr const char* include_marker =
    "# added by banger ssh-config --install";

/// Creates the ed25519 key pair (ssh-keygen, no passphrase, comment
/// "banger") in ssh_dir (0700) unless it exists; keeps the private key at
/// 0600 and recreates a missing .pub from it. True if anything was created.
caf::expected<bool> ensure_user_key(const paths& p);

/// Writes banger's ssh config (0600) and creates an empty known_hosts if
/// missing. True if the config changed.
caf::expected<bool> ensure_ssh_config(const paths& p);

/// Replaces every known_hosts entry for `host_alias` (e.g. "box.vm") with
/// one line "<host_alias> <pubkey_line>", where `pubkey_line` is the VM's
/// "ssh-ed25519 AAAA... [comment]". Atomic (temp file + rename); other
/// lines keep their bytes. True if the file changed.
caf::expected<bool> known_hosts_set(const paths& p,
                                    const std::string& host_alias,
                                    const std::string& pubkey_line);

/// Drops every entry for `host_alias`. True if the file changed.
caf::expected<bool> known_hosts_remove(const paths& p,
                                       const std::string& host_alias);

// -- ~/.ssh/config -------------------------------------------------------

/// `text` with banger's block (marker + `Include "<include_target>"`) at the
/// top, in the file's line ending (CRLF if its first line has one). Returns
/// `text` unchanged if the block is there already. Pure.
std::string with_include(const std::string& text,
                         const std::string& include_target);

/// `text` without any block with_include added (the marker line and the
/// Include line after it); every other byte stays. Pure.
std::string without_include(const std::string& text);

/// True if `text` holds banger's block for `include_target`. Pure.
bool has_include(const std::string& text, const std::string& include_target);

/// `home`/.ssh/config.
std::string user_ssh_config_path(const std::string& home);

/// Adds the Include of ssh_config_path(p) at the top of `home`/.ssh/config,
/// creating ~/.ssh (0700) and the file (0600) if missing. Follows a symlinked
/// config, keeps the file's mode and rewrites it atomically. Idempotent:
/// true only if the file changed.
caf::expected<bool> install_include(const std::string& home, const paths& p);

/// Removes what install_include added, and nothing else. True if the file
/// changed; a missing file is no change.
caf::expected<bool> uninstall_include(const std::string& home);

/// True if `home`/.ssh/config holds banger's block for ssh_config_path(p).
bool include_installed(const std::string& home, const paths& p);

} // namespace banger

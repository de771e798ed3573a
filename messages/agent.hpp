#pragma once
// The guest agent protocol (bangerd <-> banger-agent over virtio-serial).
// Plain structs and their JSON codecs; no CAF here (the agent is static).
//
// Requests (host -> guest), each answered by one "result" or "error" frame
// with the same id:
//   "health"   {}                         -> agent_health
//   "ports"    {}                         -> agent_ports_reply
//   "exec"     exec_spec                  -> "output" events, then exec_result
//   "sync"     {}                         -> {}
//   "poweroff" {}                         -> {}  (then the guest powers off)
//   "session.start"  session_start_request  -> session_info
//   "session.list"   {}                     -> session_list
//   "session.attach" session_attach_request -> "output" events (the replay,
//                    then live), then session_info once the session ended
//                    (or at once without follow, or on "detach")
//   "session.stop"   session_stop_request   -> session_info
// Inputs on a running exec's id (host -> guest, no reply):
//   "stdin"    stdin_chunk
//   "signal"   {"signal": N}
//   "credit"   stream_credit: the host took that many output bytes; the
//              agent may send that many more (flow control, see below)
// On an attach's id, "stdin" feeds the session, "signal" signals its group,
// "detach" {} ends the attach (never the session).
// Events (guest -> host) on a running exec's id:
//   "output"   output_chunk
// Flow control: an agent whose health has credit_window W starts every exec
// and attach with W bytes of output credit and sends output (data bytes) only
// while it has some; each "credit" adds to it. Out of credit, it stops reading
// the command's pipes, so the command's writes block (docs/protocol.md §6.2).
// An exec whose argv[0] is "@banger-agent" runs the agent's own binary: its
// workspace-unpack / workspace-state commands (guest/agent/workspace.hpp,
// docs/protocol.md §6.1).

#include <cstdint>
#include <string>
#include <vector>

#include "messages/boot_marker.hpp"
#include "messages/wire.hpp"

namespace banger {

/// What to run. argv is passed to execve as is: no shell, no re-splitting.
struct exec_spec {
  std::vector<std::string> argv;
  std::vector<std::string> env; // KEY=VALUE, added to the agent's defaults
  std::string cwd;              // empty: the guest user's home
  bool stdin_open = false;      // false: stdin is /dev/null
};

/// How a command ended. signal != 0 means it was killed by that signal;
/// exit_code is then 128 + signal, the shell convention.
struct exec_result {
  std::int32_t exit_code = 0;
  std::int32_t signal = 0;
};

struct agent_health {
  std::string version;
  std::string boot_id;
  std::string hostname;
  std::uint64_t uptime_ms = 0;
  /// banger-init has installed what the host handed over (keys, [guest]
  /// files): the host treats the guest as ready only then. Absent (older
  /// agents): true.
  bool provisioned = true;
  /// The output window each exec and attach starts with, in bytes; the
  /// agent then waits for "credit". 0 (older agents): no flow control, the
  /// host must not send "credit".
  std::uint64_t credit_window = 0;
};

/// One listening socket in the guest: a TCP socket in LISTEN or an
/// unconnected UDP socket, from /proc/net/{tcp,tcp6,udp,udp6}.
struct agent_port {
  std::string proto;   // "tcp", "udp", "tcp6" or "udp6"
  std::string address; // the local address, e.g. "0.0.0.0", "::", "127.0.0.1"
  std::uint32_t port = 0;
  std::int64_t pid = 0;  // the owning process; 0 if unknown
  std::string process;   // its comm; "" if unknown
};

/// The answer to "ports", sorted by port, then proto, then address.
struct agent_ports_reply {
  std::vector<agent_port> ports;
};

/// A chunk of a stream. stream: 1 stdout, 2 stderr. data: raw bytes.
struct output_chunk {
  std::int32_t stream = 1;
  std::string data;
};

struct stdin_chunk {
  std::string data;
  bool eof = false;
};

struct signal_request {
  std::int32_t signal = 0;
};

/// More output credit for a stream: bytes of output data the receiver took.
struct stream_credit {
  std::uint64_t bytes = 0;
};

/// A guest session: a long-running command the agent owns (its own process
/// group, stdin a pipe kept open, output kept in a ring buffer). Sessions
/// outlive host connections; they end with their command or the VM.
struct session_start_request {
  std::string session; // "": the agent picks s1, s2, ...
  exec_spec exec;      // exec.stdin is ignored: a session's stdin is a pipe
};

struct session_attach_request {
  std::string session;
  bool replay = true; // first the buffered output
  bool follow = true; // then live output until the session ends
};

struct session_stop_request {
  std::string session;
  std::int32_t signal = 0; // 0: SIGTERM, SIGKILL after a grace period
};

struct session_info {
  std::string session;
  std::string state; // "running" or "exited"
  std::int64_t pid = 0;
  std::vector<std::string> argv;
  std::string cwd;
  std::uint64_t age_ms = 0;   // since it started (the guest's monotonic clock)
  std::string started_at;     // RFC 3339 on the host's clock; filled by bangerd
  std::int32_t exit_code = 0; // once exited; 128 + signal when killed
  std::int32_t signal = 0;
};

struct session_list {
  std::vector<session_info> sessions; // in start order
};

namespace agent_msg {
inline constexpr const char* health = "health";
inline constexpr const char* ports = "ports";
inline constexpr const char* exec = "exec";
inline constexpr const char* sync = "sync";
inline constexpr const char* poweroff = "poweroff";
inline constexpr const char* stdin_ = "stdin";
inline constexpr const char* signal = "signal";
inline constexpr const char* session_start = "session.start";
inline constexpr const char* session_list = "session.list";
inline constexpr const char* session_attach = "session.attach";
inline constexpr const char* session_stop = "session.stop";
inline constexpr const char* detach = "detach";
inline constexpr const char* credit = "credit";
inline constexpr const char* output = "output";
inline constexpr const char* result = "result";
inline constexpr const char* error = "error";
} // namespace agent_msg

wire::json to_json(const exec_spec& x);
void from_json(const wire::json& j, exec_spec& x);
wire::json to_json(const exec_result& x);
void from_json(const wire::json& j, exec_result& x);
wire::json to_json(const agent_health& x);
void from_json(const wire::json& j, agent_health& x);
wire::json to_json(const agent_port& x);
void from_json(const wire::json& j, agent_port& x);
wire::json to_json(const agent_ports_reply& x);
void from_json(const wire::json& j, agent_ports_reply& x);
wire::json to_json(const output_chunk& x);
void from_json(const wire::json& j, output_chunk& x);
wire::json to_json(const stdin_chunk& x);
void from_json(const wire::json& j, stdin_chunk& x);
wire::json to_json(const signal_request& x);
void from_json(const wire::json& j, signal_request& x);
wire::json to_json(const stream_credit& x);
void from_json(const wire::json& j, stream_credit& x);
wire::json to_json(const session_start_request& x);
void from_json(const wire::json& j, session_start_request& x);
wire::json to_json(const session_attach_request& x);
void from_json(const wire::json& j, session_attach_request& x);
wire::json to_json(const session_stop_request& x);
void from_json(const wire::json& j, session_stop_request& x);
wire::json to_json(const session_info& x);
void from_json(const wire::json& j, session_info& x);
wire::json to_json(const session_list& x);
void from_json(const wire::json& j, session_list& x);

/// A session name: 1-63 of a-z A-Z 0-9 . _ -, not starting with '-' or
/// '.'. Returns why not, or "" when fine.
std::string check_session_name(const std::string& name);

/// Error frames carry {"code": "...", "message": "..."}.
struct error_body {
  std::string code;
  std::string message;
  std::string op; // the daemon's op id, empty from the agent
};
wire::json to_json(const error_body& x);
void from_json(const wire::json& j, error_body& x);

/// Decodes `body` into T, throwing wire::decode_error on any mismatch.
template <class T>
T decode(const wire::json& body) {
  T x;
  from_json(body, x);
  return x;
}

} // namespace banger

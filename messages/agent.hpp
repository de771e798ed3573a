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
// Inputs on a running exec's id (host -> guest, no reply):
//   "stdin"    stdin_chunk
//   "signal"   {"signal": N}
// Events (guest -> host) on a running exec's id:
//   "output"   output_chunk
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

namespace agent_msg {
inline constexpr const char* health = "health";
inline constexpr const char* ports = "ports";
inline constexpr const char* exec = "exec";
inline constexpr const char* sync = "sync";
inline constexpr const char* poweroff = "poweroff";
inline constexpr const char* stdin_ = "stdin";
inline constexpr const char* signal = "signal";
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

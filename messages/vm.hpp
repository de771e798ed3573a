#pragma once
// The VM protocol between the CLI and bangerd: request and reply bodies.
//
//   "vm.create" vm_spec              -> "progress" events, then vm_info
//   "vm.list"   {}                   -> vm_list
//   "vm.show"   vm_ref               -> vm_info
//   "vm.start"  vm_ref               -> "progress" events, then vm_info
//   "vm.stop"   vm_stop_request      -> vm_info
//   "vm.set"    vm_set_request       -> vm_info
//   "vm.kill"   vm_kill_request      -> vm_info
//   "vm.ports"  vm_ref               -> agent_ports_reply
//   "vm.delete" vm_delete_request    -> {}
//   "vm.exec"   vm_exec_request      -> "output" events, then exec_result
//   "vm.run"    vm_run_request       -> "progress"/"output" events, then exec_result
//   "vm.session.start"  vm_session<session_start_request>  -> session_info
//   "vm.session.list"   vm_ref                             -> session_list
//   "vm.session.attach" vm_session<session_attach_request> -> "output"
//                       events, then session_info (stdin/signal/cancel too)
//   "vm.session.stop"   vm_session<session_stop_request>   -> session_info
// While "vm.exec"/"vm.run" stream, the client may send "stdin", "signal" and
// "cancel" frames carrying the request's id.

#include <cstdint>
#include <string>
#include <vector>

#include "messages/agent.hpp"
#include "messages/wire.hpp"

namespace banger {

/// What a user asks for. Empty strings and zeros mean "the default".
struct vm_spec {
  std::string name;
  std::string image;
  std::string kernel;
  std::uint32_t vcpu = 0;
  std::uint32_t memory_mib = 0;
  std::uint64_t disk_bytes = 0; // the work disk holding /root
  bool nat = false; // masquerade the guest's traffic out of the host
  /// Copy the [guest] files of config.toml into /root at every start.
  /// image build's VMs say false: nothing of the user's reaches an image.
  bool host_files = true;
};

/// One stage of the last start and how long it took.
struct vm_stage {
  std::string name; // "disks", "network", "vmm", "agent"
  std::uint64_t ms = 0;
};

/// A VM as stored and as shown.
struct vm_info {
  std::string id;
  std::string name;
  std::string state;
  std::string image;
  std::string kernel;
  std::uint32_t vcpu = 0;
  std::uint32_t memory_mib = 0;
  /// The work disk's size (it holds /root); 0 for a VM made before banger
  /// had work disks (its /root lives on the root disk).
  std::uint64_t disk_bytes = 0;
  std::int64_t pid = 0;
  std::string created_at;  // RFC 3339, UTC
  std::string started_at;  // RFC 3339, UTC; empty if never started
  std::uint64_t boot_ms = 0; // last start: VMM spawn -> agent answered
  std::string last_error;
  std::string dir;
  std::string ip;  // guest IPv4 on banger's bridge; "" without networking
  std::string mac; // the guest NIC's MAC
  bool nat = false;
  bool host_files = true; // see vm_spec::host_files
  /// The last start's stages, in order; empty before the first start.
  std::vector<vm_stage> stages;
  /// Host bytes the VM's disks take (allocated blocks, not their sizes),
  /// measured when the VM is shown; 0 for a disk that does not exist yet.
  std::uint64_t root_disk_used = 0;
  std::uint64_t work_disk_used = 0;
};

struct vm_list {
  std::vector<vm_info> vms;
};

struct vm_ref {
  std::string name;
};

/// `vm set`: changes settings of a stopped VM; absent fields stay as they
/// are.
struct vm_set_request {
  std::string name;
  bool has_nat = false; // "nat" was in the request
  bool nat = false;
  std::uint32_t vcpu = 0;       // 0: unchanged
  std::uint32_t memory_mib = 0; // 0: unchanged
  std::uint64_t disk_bytes = 0; // 0: unchanged; the work disk only grows

  bool changes_something() const {
    return has_nat || vcpu != 0 || memory_mib != 0 || disk_bytes != 0;
  }
};

/// `vm kill`: a signal for the VMM ("KILL", "TERM", "INT", "HUP"; "" =
/// KILL); the VM ends stopped.
struct vm_kill_request {
  std::string name;
  std::string signal;
};

struct vm_stop_request {
  std::string name;
  std::uint32_t timeout_s = 0; // 0: the daemon's configured stop timeout
};

struct vm_delete_request {
  std::string name;
  bool force = false; // stop first if running
};

struct vm_exec_request {
  std::string name;
  exec_spec exec;
};

struct vm_run_request {
  vm_spec spec;
  exec_spec exec;
  bool rm = true; // delete the VM when the command ends
};

/// A session request for the daemon: the agent's body (messages/agent.hpp)
/// with the VM's "name" beside its fields.
template <class T>
struct vm_session {
  std::string name;
  T body;
};

template <class T>
wire::json to_json(const vm_session<T>& x) {
  auto j = to_json(x.body);
  j["name"] = x.name;
  return j;
}

template <class T>
void from_json(const wire::json& j, vm_session<T>& x) {
  if (!j.is_object())
    throw wire::decode_error("vm session: expected an object");
  auto rest = j;
  auto it = rest.find("name");
  if (it == rest.end())
    throw wire::decode_error("vm session: missing field 'name'");
  if (!it->is_string())
    throw wire::decode_error("vm session: field 'name': expected a string");
  x.name = it->template get<std::string>();
  rest.erase(it);
  x.body = decode<T>(rest);
}

/// Progress of a long operation, for spinners and logs.
struct progress_event {
  std::string stage;
  std::string message;
  /// Work done and to do in this stage (bytes for downloads); 0/0 when the
  /// stage has no measure.
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

wire::json to_json(const vm_spec& x);
void from_json(const wire::json& j, vm_spec& x);
wire::json to_json(const vm_stage& x);
void from_json(const wire::json& j, vm_stage& x);
wire::json to_json(const vm_info& x);
void from_json(const wire::json& j, vm_info& x);
wire::json to_json(const vm_list& x);
void from_json(const wire::json& j, vm_list& x);
wire::json to_json(const vm_ref& x);
void from_json(const wire::json& j, vm_ref& x);
wire::json to_json(const vm_kill_request& x);
void from_json(const wire::json& j, vm_kill_request& x);
wire::json to_json(const vm_set_request& x);
void from_json(const wire::json& j, vm_set_request& x);
wire::json to_json(const vm_stop_request& x);
void from_json(const wire::json& j, vm_stop_request& x);
wire::json to_json(const vm_delete_request& x);
void from_json(const wire::json& j, vm_delete_request& x);
wire::json to_json(const vm_exec_request& x);
void from_json(const wire::json& j, vm_exec_request& x);
wire::json to_json(const vm_run_request& x);
void from_json(const wire::json& j, vm_run_request& x);
wire::json to_json(const progress_event& x);
void from_json(const wire::json& j, progress_event& x);

} // namespace banger

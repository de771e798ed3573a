#pragma once
// CAF's view of banger's messages: inspect() for every struct that crosses
// an actor boundary, the atoms, and the one type-ID block registered by
// bangerd (and the actor tests) with cfg.add_message_types<>().

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include "messages/agent.hpp"
#include "messages/daemon.hpp"
#include "messages/image.hpp"
#include "messages/vm.hpp"
#include "messages/wire.hpp"

namespace banger {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, exec_spec& x) {
  return f(caf::meta::type_name("exec_spec"), x.argv, x.env, x.cwd,
           x.stdin_open);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, exec_result& x) {
  return f(caf::meta::type_name("exec_result"), x.exit_code, x.signal);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_health& x) {
  return f(caf::meta::type_name("agent_health"), x.version, x.boot_id,
           x.hostname, x.uptime_ms, x.provisioned);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_port& x) {
  return f(caf::meta::type_name("agent_port"), x.proto, x.address, x.port,
           x.pid, x.process);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_ports_reply& x) {
  return f(caf::meta::type_name("agent_ports_reply"), x.ports);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, output_chunk& x) {
  return f(caf::meta::type_name("output_chunk"), x.stream, x.data);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stdin_chunk& x) {
  return f(caf::meta::type_name("stdin_chunk"), x.data, x.eof);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vm_spec& x) {
  return f(caf::meta::type_name("vm_spec"), x.name, x.image, x.kernel, x.vcpu,
           x.memory_mib, x.disk_bytes, x.nat, x.host_files);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vm_stage& x) {
  return f(caf::meta::type_name("vm_stage"), x.name, x.ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vm_info& x) {
  return f(caf::meta::type_name("vm_info"), x.id, x.name, x.state, x.image,
           x.kernel, x.vcpu, x.memory_mib, x.disk_bytes, x.pid, x.created_at,
           x.started_at, x.boot_ms, x.last_error, x.dir, x.ip, x.mac, x.nat,
           x.host_files, x.stages, x.root_disk_used, x.work_disk_used);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vm_set_request& x) {
  return f(caf::meta::type_name("vm_set_request"), x.name, x.has_nat, x.nat, x.vcpu,
           x.memory_mib, x.disk_bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vm_list& x) {
  return f(caf::meta::type_name("vm_list"), x.vms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vm_run_request& x) {
  return f(caf::meta::type_name("vm_run_request"), x.spec, x.exec, x.rm);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, progress_event& x) {
  return f(caf::meta::type_name("progress_event"), x.stage, x.message,
           x.done, x.total);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_info& x) {
  return f(caf::meta::type_name("image_info"), x.name, x.kernel, x.rootfs,
           x.size_bytes, x.created_at, x.source, x.digest, x.work_seed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kernel_info& x) {
  return f(caf::meta::type_name("kernel_info"), x.name, x.vmlinux, x.initrd,
           x.version, x.created_at, x.source, x.digest);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_list& x) {
  return f(caf::meta::type_name("image_list"), x.images);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kernel_list& x) {
  return f(caf::meta::type_name("kernel_list"), x.kernels);
}

template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, image_import_request& x) {
  return f(caf::meta::type_name("image_import_request"), x.name, x.rootfs,
           x.kernel, x.work_seed);
}

template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, kernel_import_request& x) {
  return f(caf::meta::type_name("kernel_import_request"), x.name, x.from);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_pull_request& x) {
  return f(caf::meta::type_name("image_pull_request"), x.ref, x.name,
           x.kernel, x.size_bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_build_request& x) {
  return f(caf::meta::type_name("image_build_request"), x.name, x.from,
           x.kernel, x.size_bytes, x.nat, x.exec);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kernel_pull_request& x) {
  return f(caf::meta::type_name("kernel_pull_request"), x.name);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, daemon_status& x) {
  return f(caf::meta::type_name("daemon_status"), x.version, x.pid, x.socket,
           x.state_dir, x.accel, x.vms_total, x.vms_running, x.network, x.uid);
}

template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, session_start_request& x) {
  return f(caf::meta::type_name("session_start_request"), x.session, x.exec);
}

template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, session_attach_request& x) {
  return f(caf::meta::type_name("session_attach_request"), x.session,
           x.replay, x.follow);
}

template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, session_stop_request& x) {
  return f(caf::meta::type_name("session_stop_request"), x.session, x.signal);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_info& x) {
  return f(caf::meta::type_name("session_info"), x.session, x.state, x.pid,
           x.argv, x.cwd, x.age_ms, x.started_at, x.exit_code, x.signal);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_list& x) {
  return f(caf::meta::type_name("session_list"), x.sessions);
}

} // namespace banger

// A decoded frame travels from a socket's reader thread to its owning actor
// inside one process only; it is never serialized.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(banger::wire::envelope)

CAF_BEGIN_TYPE_ID_BLOCK(banger, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(banger, (banger::exec_spec))
  CAF_ADD_TYPE_ID(banger, (banger::exec_result))
  CAF_ADD_TYPE_ID(banger, (banger::agent_health))
  CAF_ADD_TYPE_ID(banger, (banger::output_chunk))
  CAF_ADD_TYPE_ID(banger, (banger::stdin_chunk))
  CAF_ADD_TYPE_ID(banger, (banger::vm_spec))
  CAF_ADD_TYPE_ID(banger, (banger::vm_info))
  CAF_ADD_TYPE_ID(banger, (banger::vm_list))
  CAF_ADD_TYPE_ID(banger, (banger::vm_run_request))
  CAF_ADD_TYPE_ID(banger, (banger::progress_event))
  CAF_ADD_TYPE_ID(banger, (banger::image_info))
  CAF_ADD_TYPE_ID(banger, (banger::kernel_info))
  CAF_ADD_TYPE_ID(banger, (banger::image_list))
  CAF_ADD_TYPE_ID(banger, (banger::kernel_list))
  CAF_ADD_TYPE_ID(banger, (banger::image_import_request))
  CAF_ADD_TYPE_ID(banger, (banger::kernel_import_request))
  CAF_ADD_TYPE_ID(banger, (banger::daemon_status))
  CAF_ADD_TYPE_ID(banger, (banger::agent_port))
  CAF_ADD_TYPE_ID(banger, (banger::agent_ports_reply))
  CAF_ADD_TYPE_ID(banger, (std::vector<banger::agent_port>))
  CAF_ADD_TYPE_ID(banger, (banger::image_pull_request))
  CAF_ADD_TYPE_ID(banger, (banger::kernel_pull_request))
  CAF_ADD_TYPE_ID(banger, (banger::image_build_request))
  CAF_ADD_TYPE_ID(banger, (banger::vm_set_request))
  CAF_ADD_TYPE_ID(banger, (banger::vm_stage))
  CAF_ADD_TYPE_ID(banger, (std::vector<banger::vm_stage>))
  CAF_ADD_TYPE_ID(banger, (banger::session_start_request))
  CAF_ADD_TYPE_ID(banger, (banger::session_attach_request))
  CAF_ADD_TYPE_ID(banger, (banger::session_stop_request))
  CAF_ADD_TYPE_ID(banger, (banger::session_info))
  CAF_ADD_TYPE_ID(banger, (banger::session_list))
  CAF_ADD_TYPE_ID(banger, (std::vector<banger::session_info>))
  CAF_ADD_ATOM(banger, banger::atom, create, "create")
  CAF_ADD_ATOM(banger, banger::atom, start, "start")
  CAF_ADD_ATOM(banger, banger::atom, stop, "stop")
  CAF_ADD_ATOM(banger, banger::atom, kill, "kill")
  CAF_ADD_ATOM(banger, banger::atom, del, "delete")
  CAF_ADD_ATOM(banger, banger::atom, exec, "exec")
  CAF_ADD_ATOM(banger, banger::atom, list, "list")
  CAF_ADD_ATOM(banger, banger::atom, get, "get")
  CAF_ADD_ATOM(banger, banger::atom, put, "put")
  CAF_ADD_ATOM(banger, banger::atom, status, "status")
  CAF_ADD_ATOM(banger, banger::atom, health, "health")
  CAF_ADD_ATOM(banger, banger::atom, ready, "ready")
  CAF_ADD_ATOM(banger, banger::atom, sync, "sync")
  CAF_ADD_ATOM(banger, banger::atom, poweroff, "poweroff")
  CAF_ADD_ATOM(banger, banger::atom, input, "input")
  CAF_ADD_ATOM(banger, banger::atom, signal, "signal")
  CAF_ADD_ATOM(banger, banger::atom, output, "output")
  CAF_ADD_ATOM(banger, banger::atom, progress, "progress")
  CAF_ADD_ATOM(banger, banger::atom, started, "started")
  CAF_ADD_ATOM(banger, banger::atom, frame, "frame")
  CAF_ADD_ATOM(banger, banger::atom, closed, "closed")
  CAF_ADD_ATOM(banger, banger::atom, invalid, "invalid")
  CAF_ADD_ATOM(banger, banger::atom, exited, "exited")
  CAF_ADD_ATOM(banger, banger::atom, updated, "updated")
  CAF_ADD_ATOM(banger, banger::atom, removed, "removed")
  CAF_ADD_ATOM(banger, banger::atom, adopt, "adopt")
  CAF_ADD_ATOM(banger, banger::atom, image, "image")
  CAF_ADD_ATOM(banger, banger::atom, kernel, "kernel")
  CAF_ADD_ATOM(banger, banger::atom, import, "import")
  CAF_ADD_ATOM(banger, banger::atom, shutdown, "shutdown")
  CAF_ADD_ATOM(banger, banger::atom, run, "run")
  CAF_ADD_ATOM(banger, banger::atom, tick, "tick")
  CAF_ADD_ATOM(banger, banger::atom, nat, "nat")
  CAF_ADD_ATOM(banger, banger::atom, ports, "ports")
  CAF_ADD_ATOM(banger, banger::atom, pull, "pull")
  CAF_ADD_ATOM(banger, banger::atom, cancel, "cancel")
  CAF_ADD_ATOM(banger, banger::atom, build, "build")
  CAF_ADD_ATOM(banger, banger::atom, session, "session")
  CAF_ADD_ATOM(banger, banger::atom, attach, "attach")
  CAF_ADD_ATOM(banger, banger::atom, detach, "detach")
  CAF_ADD_ATOM(banger, banger::atom, credit, "credit")
CAF_END_TYPE_ID_BLOCK(banger)

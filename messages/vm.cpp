#include "messages/vm.hpp"

namespace banger {

using wire::json;
using wire::object_reader;

json to_json(const vm_spec& x) {
  return {{"name", x.name},     {"image", x.image}, {"kernel", x.kernel},
          {"vcpu", x.vcpu},     {"memory_mib", x.memory_mib},
          {"disk_bytes", x.disk_bytes}, {"nat", x.nat},
          {"host_files", x.host_files}};
}

void from_json(const json& j, vm_spec& x) {
  object_reader r(j, "vm spec");
  r.optional("name", x.name);
  r.optional("image", x.image);
  r.optional("kernel", x.kernel);
  r.optional("vcpu", x.vcpu);
  r.optional("memory_mib", x.memory_mib);
  r.optional("disk_bytes", x.disk_bytes);
  r.optional("nat", x.nat);
  r.optional("host_files", x.host_files);
  r.finish();
}

json to_json(const vm_stage& x) {
  return {{"name", x.name}, {"ms", x.ms}};
}

void from_json(const json& j, vm_stage& x) {
  object_reader r(j, "vm stage");
  r.required("name", x.name);
  r.required("ms", x.ms);
  r.finish();
}

json to_json(const vm_info& x) {
  json stages = json::array();
  for (auto& st : x.stages)
    stages.push_back(to_json(st));
  return {{"id", x.id},
          {"name", x.name},
          {"state", x.state},
          {"image", x.image},
          {"kernel", x.kernel},
          {"vcpu", x.vcpu},
          {"memory_mib", x.memory_mib},
          {"disk_bytes", x.disk_bytes},
          {"pid", x.pid},
          {"created_at", x.created_at},
          {"started_at", x.started_at},
          {"boot_ms", x.boot_ms},
          {"last_error", x.last_error},
          {"dir", x.dir},
          {"ip", x.ip},
          {"mac", x.mac},
          {"nat", x.nat},
          {"host_files", x.host_files},
          {"stages", stages},
          {"root_disk_used", x.root_disk_used},
          {"work_disk_used", x.work_disk_used}};
}

void from_json(const json& j, vm_info& x) {
  object_reader r(j, "vm");
  r.required("id", x.id);
  r.required("name", x.name);
  r.required("state", x.state);
  r.optional("image", x.image);
  r.optional("kernel", x.kernel);
  r.optional("vcpu", x.vcpu);
  r.optional("memory_mib", x.memory_mib);
  r.optional("disk_bytes", x.disk_bytes);
  r.optional("pid", x.pid);
  r.optional("created_at", x.created_at);
  r.optional("started_at", x.started_at);
  r.optional("boot_ms", x.boot_ms);
  r.optional("last_error", x.last_error);
  r.optional("dir", x.dir);
  r.optional("ip", x.ip);
  r.optional("mac", x.mac);
  r.optional("nat", x.nat);
  r.optional("host_files", x.host_files);
  json stages;
  r.optional("stages", stages);
  r.optional("root_disk_used", x.root_disk_used);
  r.optional("work_disk_used", x.work_disk_used);
  if (!stages.is_null() && !stages.is_array())
    r.fail("field 'stages' must be an array");
  for (auto& e : stages)
    x.stages.push_back(decode<vm_stage>(e));
  r.finish();
}

json to_json(const vm_list& x) {
  json arr = json::array();
  for (auto& vm : x.vms)
    arr.push_back(to_json(vm));
  return {{"vms", arr}};
}

void from_json(const json& j, vm_list& x) {
  object_reader r(j, "vm list");
  json arr;
  r.required("vms", arr);
  r.finish();
  if (!arr.is_array())
    r.fail("field 'vms' must be an array");
  for (auto& e : arr)
    x.vms.push_back(decode<vm_info>(e));
}

json to_json(const vm_ref& x) {
  return {{"name", x.name}};
}

void from_json(const json& j, vm_ref& x) {
  object_reader r(j, "vm reference");
  r.required("name", x.name);
  r.finish();
}

json to_json(const vm_set_request& x) {
  json j = {{"name", x.name}};
  if (x.has_nat)
    j["nat"] = x.nat;
  if (x.vcpu != 0)
    j["vcpu"] = x.vcpu;
  if (x.memory_mib != 0)
    j["memory_mib"] = x.memory_mib;
  if (x.disk_bytes != 0)
    j["disk_bytes"] = x.disk_bytes;
  return j;
}

void from_json(const json& j, vm_set_request& x) {
  object_reader r(j, "vm set");
  r.required("name", x.name);
  x.has_nat = j.is_object() && j.contains("nat");
  r.optional("nat", x.nat);
  r.optional("vcpu", x.vcpu);
  r.optional("memory_mib", x.memory_mib);
  r.optional("disk_bytes", x.disk_bytes);
  r.finish();
}

json to_json(const vm_kill_request& x) {
  return {{"name", x.name}, {"signal", x.signal}};
}

void from_json(const json& j, vm_kill_request& x) {
  object_reader r(j, "vm kill");
  r.required("name", x.name);
  r.optional("signal", x.signal);
  r.finish();
}

json to_json(const vm_stop_request& x) {
  return {{"name", x.name}, {"timeout_s", x.timeout_s}};
}

void from_json(const json& j, vm_stop_request& x) {
  object_reader r(j, "vm stop");
  r.required("name", x.name);
  r.optional("timeout_s", x.timeout_s);
  r.finish();
}

json to_json(const vm_delete_request& x) {
  return {{"name", x.name}, {"force", x.force}};
}

void from_json(const json& j, vm_delete_request& x) {
  object_reader r(j, "vm delete");
  r.required("name", x.name);
  r.optional("force", x.force);
  r.finish();
}

json to_json(const vm_exec_request& x) {
  return {{"name", x.name}, {"exec", to_json(x.exec)}};
}

void from_json(const json& j, vm_exec_request& x) {
  object_reader r(j, "vm exec");
  json exec;
  r.required("name", x.name);
  r.required("exec", exec);
  r.finish();
  x.exec = decode<exec_spec>(exec);
}

json to_json(const vm_run_request& x) {
  return {{"spec", to_json(x.spec)}, {"exec", to_json(x.exec)}, {"rm", x.rm}};
}

void from_json(const json& j, vm_run_request& x) {
  object_reader r(j, "vm run");
  json spec, exec;
  r.required("spec", spec);
  r.required("exec", exec);
  r.optional("rm", x.rm);
  r.finish();
  x.spec = decode<vm_spec>(spec);
  x.exec = decode<exec_spec>(exec);
}

json to_json(const progress_event& x) {
  json j = {{"stage", x.stage}, {"message", x.message}};
  if (x.total != 0 || x.done != 0) {
    j["done"] = x.done;
    j["total"] = x.total;
  }
  return j;
}

void from_json(const json& j, progress_event& x) {
  object_reader r(j, "progress");
  r.required("stage", x.stage);
  r.optional("message", x.message);
  r.optional("done", x.done);
  r.optional("total", x.total);
  r.finish();
}

} // namespace banger

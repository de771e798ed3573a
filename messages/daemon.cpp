#include "messages/daemon.hpp"

namespace banger {

using wire::json;

json to_json(const daemon_status& x) {
  return {{"version", x.version},         {"pid", x.pid},
          {"socket", x.socket},           {"state_dir", x.state_dir},
          {"accel", x.accel},             {"vms_total", x.vms_total},
          {"vms_running", x.vms_running}, {"network", x.network},
          {"uid", x.uid}};
}

void from_json(const json& j, daemon_status& x) {
  wire::object_reader r(j, "daemon status");
  r.required("version", x.version);
  r.optional("pid", x.pid);
  r.optional("socket", x.socket);
  r.optional("state_dir", x.state_dir);
  r.optional("accel", x.accel);
  r.optional("vms_total", x.vms_total);
  r.optional("vms_running", x.vms_running);
  r.optional("network", x.network);
  r.optional("uid", x.uid);
  r.finish();
}

} // namespace banger

// Requests as bangerd's connection actor decodes them (actors/connection.cpp
// dispatch: type -> decoder), the stream inputs, and the daemon's own replies.

#include "messages/daemon.hpp"
#include "messages/image.hpp"
#include "messages/vm.hpp"
#include "test/fuzz/harness.hpp"

using namespace banger;
using fuzz::exercise;

namespace {
constexpr fuzz::entry family[] = {
    {"vm.create", exercise<vm_spec>},
    {"vm.show", exercise<vm_ref>},
    {"vm.start", exercise<vm_ref>},
    {"vm.stop", exercise<vm_stop_request>},
    {"vm.ports", exercise<vm_ref>},
    {"vm.set", exercise<vm_set_request>},
    {"vm.delete", exercise<vm_delete_request>},
    {"vm.exec", exercise<vm_exec_request>},
    {"vm.run", exercise<vm_run_request>},
    {"vm.session.start", exercise<vm_session<session_start_request>>},
    {"vm.session.list", exercise<vm_ref>},
    {"vm.session.attach", exercise<vm_session<session_attach_request>>},
    {"vm.session.stop", exercise<vm_session<session_stop_request>>},
    {"image.import", exercise<image_import_request>},
    {"image.show", exercise<vm_ref>},
    {"image.rm", exercise<vm_delete_request>},
    {"kernel.show", exercise<vm_ref>},
    {"kernel.rm", exercise<vm_delete_request>},
    {"image.pull", exercise<image_pull_request>},
    {"image.build", exercise<image_build_request>},
    {"kernel.pull", exercise<kernel_pull_request>},
    {"kernel.import", exercise<kernel_import_request>},
    {"stdin", exercise<stdin_chunk>},
    {"signal", exercise<signal_request>},
    {"error", exercise<error_body>},
    {"result:daemon.status", exercise<daemon_status>},
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return fuzz::run_family(data, size, family);
}

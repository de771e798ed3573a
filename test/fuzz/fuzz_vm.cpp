// Every codec of messages/vm.hpp: requests and the replies the CLI decodes.

#include "messages/vm.hpp"
#include "test/fuzz/harness.hpp"

using namespace banger;
using fuzz::exercise;

namespace {
constexpr fuzz::entry family[] = {
    {"vm_spec", exercise<vm_spec>},
    {"vm_info", exercise<vm_info>},
    {"vm_list", exercise<vm_list>},
    {"vm_ref", exercise<vm_ref>},
    {"vm_set_request", exercise<vm_set_request>},
    {"vm_stop_request", exercise<vm_stop_request>},
    {"vm_delete_request", exercise<vm_delete_request>},
    {"vm_exec_request", exercise<vm_exec_request>},
    {"vm_run_request", exercise<vm_run_request>},
    {"progress", exercise<progress_event>},
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return fuzz::run_family(data, size, family);
}

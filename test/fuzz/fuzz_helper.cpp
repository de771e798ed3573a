// banger-helper's requests as helper/operations.cpp decodes them, and the
// replies bangerd's helper client decodes.

#include "messages/helper.hpp"
#include "test/fuzz/harness.hpp"

using namespace banger;
using fuzz::exercise;

namespace {
constexpr fuzz::entry family[] = {
    {"helper.ensure_bridge", exercise<helper_ensure_bridge>},
    {"helper.create_tap", exercise<helper_create_tap>},
    {"helper.delete_tap", exercise<helper_delete_tap>},
    {"helper.add_nat", exercise<helper_add_nat>},
    {"helper.remove_nat", exercise<helper_remove_nat>},
    {"helper.list", exercise<helper_list_request>},
    {"helper.open_tap", exercise<helper_open_tap>},
    {"helper.bind_dns", exercise<helper_bind_dns>},
    {"helper.bind_tap", exercise<helper_bind_tap>},
    {"result:helper.ensure_bridge", exercise<helper_ensure_bridge_reply>},
    {"result:helper.create_tap", exercise<helper_create_tap_reply>},
    {"result:helper.delete_tap", exercise<helper_delete_tap_reply>},
    {"result:helper.add_nat", exercise<helper_add_nat_reply>},
    {"result:helper.remove_nat", exercise<helper_remove_nat_reply>},
    {"result:helper.open_tap", exercise<helper_open_tap_reply>},
    {"result:helper.bind_dns", exercise<helper_bind_dns_reply>},
    {"result:helper.bind_tap", exercise<helper_bind_tap_reply>},
    {"result:helper.list", exercise<helper_list_reply>},
    {"helper_bridge", exercise<helper_bridge>},
    {"helper_tap", exercise<helper_tap>},
    {"helper_nat_rule", exercise<helper_nat_rule>},
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return fuzz::run_family(data, size, family);
}

// The guest agent's messages (messages/agent.hpp). Built with
// BANGER_WIRE_NLOHMANN like banger-agent itself, so the agent's own JSON
// parsing is what meets the input (the other targets use simdjson's).

#include "messages/agent.hpp"
#include "test/fuzz/harness.hpp"

using namespace banger;
using fuzz::exercise;

namespace {
constexpr fuzz::entry family[] = {
    {"exec", exercise<exec_spec>},
    {"result:exec", exercise<exec_result>},
    {"result:health", exercise<agent_health>},
    {"agent_port", exercise<agent_port>},
    {"result:ports", exercise<agent_ports_reply>},
    {"stdout", exercise<output_chunk>},
    {"stdin", exercise<stdin_chunk>},
    {"signal", exercise<signal_request>},
    {"credit", exercise<stream_credit>},
    {"error", exercise<error_body>},
    {"session.start", exercise<session_start_request>},
    {"session.attach", exercise<session_attach_request>},
    {"session.stop", exercise<session_stop_request>},
    {"result:session", exercise<session_info>},
    {"result:session.list", exercise<session_list>},
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return fuzz::run_family(data, size, family);
}

#include "messages/agent.hpp"

namespace banger {

using wire::json;
using wire::object_reader;

json to_json(const exec_spec& x) {
  return {{"argv", x.argv}, {"env", x.env}, {"cwd", x.cwd},
          {"stdin", x.stdin_open}};
}

void from_json(const json& j, exec_spec& x) {
  object_reader r(j, "exec");
  r.required("argv", x.argv);
  r.optional("env", x.env);
  r.optional("cwd", x.cwd);
  r.optional("stdin", x.stdin_open);
  r.finish();
  if (x.argv.empty())
    r.fail("field 'argv' must name a program");
  for (auto& e : x.env)
    if (e.find('=') == std::string::npos || e.front() == '=')
      r.fail("environment entry '" + e + "' is not KEY=VALUE");
}

json to_json(const exec_result& x) {
  return {{"exit_code", x.exit_code}, {"signal", x.signal}};
}

void from_json(const json& j, exec_result& x) {
  object_reader r(j, "exec result");
  r.required("exit_code", x.exit_code);
  r.optional("signal", x.signal);
  r.finish();
}

json to_json(const agent_health& x) {
  return {{"version", x.version}, {"boot_id", x.boot_id},
          {"hostname", x.hostname}, {"uptime_ms", x.uptime_ms}};
}

void from_json(const json& j, agent_health& x) {
  object_reader r(j, "health");
  r.required("version", x.version);
  r.optional("boot_id", x.boot_id);
  r.optional("hostname", x.hostname);
  r.optional("uptime_ms", x.uptime_ms);
  r.finish();
}

json to_json(const output_chunk& x) {
  return {{"stream", x.stream == 2 ? "stderr" : "stdout"},
          {"data", wire::base64_encode(x.data)}};
}

void from_json(const json& j, output_chunk& x) {
  object_reader r(j, "output");
  std::string stream, data;
  r.required("stream", stream);
  r.required("data", data);
  r.finish();
  if (stream == "stdout")
    x.stream = 1;
  else if (stream == "stderr")
    x.stream = 2;
  else
    r.fail("field 'stream' must be \"stdout\" or \"stderr\"");
  try {
    x.data = wire::base64_decode(data);
  } catch (const wire::decode_error& e) {
    r.fail(std::string("field 'data': ") + e.what());
  }
}

json to_json(const stdin_chunk& x) {
  return {{"data", wire::base64_encode(x.data)}, {"eof", x.eof}};
}

void from_json(const json& j, stdin_chunk& x) {
  object_reader r(j, "stdin");
  std::string data;
  r.optional("data", data);
  r.optional("eof", x.eof);
  r.finish();
  try {
    x.data = wire::base64_decode(data);
  } catch (const wire::decode_error& e) {
    r.fail(std::string("field 'data': ") + e.what());
  }
}

json to_json(const signal_request& x) {
  return {{"signal", x.signal}};
}

void from_json(const json& j, signal_request& x) {
  object_reader r(j, "signal");
  r.required("signal", x.signal);
  r.finish();
  if (x.signal <= 0 || x.signal > 64)
    r.fail("field 'signal' must be a signal number from 1 to 64");
}

json to_json(const error_body& x) {
  json j = {{"code", x.code}, {"message", x.message}};
  if (!x.op.empty())
    j["op"] = x.op;
  return j;
}

void from_json(const json& j, error_body& x) {
  object_reader r(j, "error");
  r.required("code", x.code);
  r.required("message", x.message);
  r.optional("op", x.op);
  r.finish();
}

} // namespace banger

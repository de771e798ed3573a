#include "messages/agent.hpp"

#include <cctype>

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
          {"hostname", x.hostname}, {"uptime_ms", x.uptime_ms},
          {"provisioned", x.provisioned}, {"credit_window", x.credit_window}};
}

void from_json(const json& j, agent_health& x) {
  object_reader r(j, "health");
  r.required("version", x.version);
  r.optional("boot_id", x.boot_id);
  r.optional("hostname", x.hostname);
  r.optional("uptime_ms", x.uptime_ms);
  r.optional("provisioned", x.provisioned);
  r.optional("credit_window", x.credit_window);
  r.finish();
}

json to_json(const agent_port& x) {
  return {{"proto", x.proto}, {"address", x.address}, {"port", x.port},
          {"pid", x.pid},     {"process", x.process}};
}

void from_json(const json& j, agent_port& x) {
  object_reader r(j, "port");
  std::uint64_t port = 0; // wide, so that 2^32 + 22 is refused, not 22
  r.required("proto", x.proto);
  r.required("address", x.address);
  r.required("port", port);
  r.optional("pid", x.pid);
  r.optional("process", x.process);
  r.finish();
  if (x.proto != "tcp" && x.proto != "udp" && x.proto != "tcp6"
      && x.proto != "udp6")
    r.fail("field 'proto' must be \"tcp\", \"udp\", \"tcp6\" or \"udp6\"");
  if (port > 65535)
    r.fail("field 'port' must be at most 65535");
  x.port = static_cast<std::uint32_t>(port);
  if (x.pid < 0)
    r.fail("field 'pid' must not be negative");
}

json to_json(const agent_ports_reply& x) {
  json arr = json::array();
  for (auto& p : x.ports)
    arr.push_back(to_json(p));
  return {{"ports", arr}};
}

void from_json(const json& j, agent_ports_reply& x) {
  object_reader r(j, "ports");
  json arr;
  r.required("ports", arr);
  r.finish();
  if (!arr.is_array())
    r.fail("field 'ports' must be an array");
  x.ports.clear();
  for (auto& e : arr)
    x.ports.push_back(decode<agent_port>(e));
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

json to_json(const stream_credit& x) {
  return {{"bytes", x.bytes}};
}

void from_json(const json& j, stream_credit& x) {
  object_reader r(j, "credit");
  r.required("bytes", x.bytes);
  r.finish();
  if (x.bytes == 0 || x.bytes > (std::uint64_t{1} << 40))
    r.fail("field 'bytes' must be from 1 to 2^40");
}

std::string check_session_name(const std::string& name) {
  if (name.empty())
    return "a session name must not be empty";
  if (name.size() > 63)
    return "session name '" + name + "' is longer than 63 characters";
  if (name.front() == '-' || name.front() == '.')
    return "session name '" + name + "' must not start with '"
           + name.front() + "'";
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_'
        && c != '.')
      return "session name '" + name
             + "' may only hold letters, digits, '.', '_' and '-'";
  return "";
}

json to_json(const session_start_request& x) {
  return {{"session", x.session}, {"exec", to_json(x.exec)}};
}

void from_json(const json& j, session_start_request& x) {
  object_reader r(j, "session start");
  json exec;
  r.optional("session", x.session);
  r.required("exec", exec);
  r.finish();
  if (!x.session.empty())
    if (auto why = check_session_name(x.session); !why.empty())
      r.fail(why);
  x.exec = decode<exec_spec>(exec);
}

json to_json(const session_attach_request& x) {
  return {{"session", x.session}, {"replay", x.replay}, {"follow", x.follow}};
}

void from_json(const json& j, session_attach_request& x) {
  object_reader r(j, "session attach");
  r.required("session", x.session);
  r.optional("replay", x.replay);
  r.optional("follow", x.follow);
  r.finish();
}

json to_json(const session_stop_request& x) {
  return {{"session", x.session}, {"signal", x.signal}};
}

void from_json(const json& j, session_stop_request& x) {
  object_reader r(j, "session stop");
  r.required("session", x.session);
  r.optional("signal", x.signal);
  r.finish();
  if (x.signal < 0 || x.signal > 64)
    r.fail("field 'signal' must be 0 (TERM, then KILL) or a signal number "
           "from 1 to 64");
}

json to_json(const session_info& x) {
  return {{"session", x.session},     {"state", x.state},
          {"pid", x.pid},             {"argv", x.argv},
          {"cwd", x.cwd},             {"age_ms", x.age_ms},
          {"started_at", x.started_at}, {"exit_code", x.exit_code},
          {"signal", x.signal}};
}

void from_json(const json& j, session_info& x) {
  object_reader r(j, "session");
  r.required("session", x.session);
  r.required("state", x.state);
  r.optional("pid", x.pid);
  r.optional("argv", x.argv);
  r.optional("cwd", x.cwd);
  r.optional("age_ms", x.age_ms);
  r.optional("started_at", x.started_at);
  r.optional("exit_code", x.exit_code);
  r.optional("signal", x.signal);
  r.finish();
  if (x.state != "running" && x.state != "exited")
    r.fail("field 'state' must be \"running\" or \"exited\"");
}

json to_json(const session_list& x) {
  json arr = json::array();
  for (auto& s : x.sessions)
    arr.push_back(to_json(s));
  return {{"sessions", arr}};
}

void from_json(const json& j, session_list& x) {
  object_reader r(j, "session list");
  json arr;
  r.required("sessions", arr);
  r.finish();
  if (!arr.is_array())
    r.fail("field 'sessions' must be an array");
  x.sessions.clear();
  for (auto& e : arr)
    x.sessions.push_back(decode<session_info>(e));
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

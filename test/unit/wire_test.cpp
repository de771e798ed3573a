// The framing and the message codecs: round trips, and every way a frame can
// be wrong gets a decode_error that names the problem.

#include <gtest/gtest.h>

#include <thread>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "messages/agent.hpp"
#include "messages/daemon.hpp"
#include "messages/image.hpp"
#include "messages/vm.hpp"
#include "messages/wire.hpp"
#include "services/unique_fd.hpp"

namespace banger {
namespace {

using wire::decode_error;
using wire::json;

std::string payload_of(const std::string& frame) {
  return frame.substr(4);
}

TEST(WireFrame, RoundTripsAnEnvelope) {
  wire::envelope env;
  env.id = 42;
  env.type = "vm.create";
  env.body = {{"name", "box"}};
  auto frame = wire::encode_frame(env);
  ASSERT_GE(frame.size(), 4u);
  std::uint32_t len = (std::uint8_t(frame[0]) << 24)
                      | (std::uint8_t(frame[1]) << 16)
                      | (std::uint8_t(frame[2]) << 8) | std::uint8_t(frame[3]);
  EXPECT_EQ(len, frame.size() - 4);
  auto back = wire::parse_envelope(payload_of(frame));
  EXPECT_EQ(back.v, wire::protocol_version);
  EXPECT_EQ(back.id, 42u);
  EXPECT_EQ(back.type, "vm.create");
  EXPECT_EQ(back.body, env.body);
}

TEST(WireFrame, ReaderReassemblesFramesFedByteByByte) {
  std::string stream;
  for (std::uint64_t i = 1; i <= 3; ++i) {
    wire::envelope env;
    env.id = i;
    env.type = "t" + std::to_string(i);
    stream += wire::encode_frame(env);
  }
  wire::frame_reader reader;
  std::vector<std::string> out;
  for (char c : stream) {
    reader.feed(&c, 1);
    while (auto p = reader.next())
      out.push_back(*p);
  }
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(wire::parse_envelope(out[2]).type, "t3");
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(WireFrame, OversizedLengthIsRefusedBeforeReadingThePayload) {
  wire::frame_reader reader(1024);
  const char prefix[4] = {0, 0, 0x10, 0}; // 4096 bytes announced
  reader.feed(prefix, 4);
  try {
    reader.next();
    FAIL() << "an oversized frame was accepted";
  } catch (const decode_error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the limit"),
              std::string::npos);
  }
}

void expect_rejected(const std::string& payload, const std::string& why) {
  try {
    wire::parse_envelope(payload);
    FAIL() << "accepted: " << payload;
  } catch (const decode_error& e) {
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos)
      << "message was: " << e.what();
  }
}

TEST(WireFrame, RejectsMalformedEnvelopes) {
  expect_rejected("{not json", "malformed JSON");
  expect_rejected("[1,2]", "not a JSON object");
  expect_rejected(R"({"v":1,"type":"x","body":{}})", "missing field 'id'");
  expect_rejected(R"({"v":1,"id":1,"body":{}})", "missing field 'type'");
  expect_rejected(R"({"v":2,"id":1,"type":"x","body":{}})",
                  "unsupported protocol version 2");
  expect_rejected(R"({"v":1,"id":-1,"type":"x","body":{}})", "non-negative");
  expect_rejected(R"({"v":1,"id":1,"type":"x","body":[]})",
                  "'body' must be an object");
  expect_rejected(R"({"v":1,"id":1,"type":"","body":{}})", "is empty");
  expect_rejected(R"({"v":1,"id":1,"type":"x","body":{},"extra":1})",
                  "unknown field 'extra'");
  expect_rejected(R"({"v":1,"id":1,"id":2,"type":"x","body":{}})",
                  "duplicate key");
  expect_rejected(std::string("{\"v\":1,\"id\":1,\"type\":\"\xff\"}"),
                  "malformed JSON");
}

TEST(WireBase64, RoundTripsEveryLengthAndByte) {
  std::string all;
  for (int i = 0; i < 256; ++i)
    all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= all.size(); n += 1) {
    auto part = all.substr(0, n);
    EXPECT_EQ(wire::base64_decode(wire::base64_encode(part)), part);
  }
  EXPECT_EQ(wire::base64_encode("hi"), "aGk=");
}

TEST(WireBase64, RejectsGarbage) {
  EXPECT_THROW(wire::base64_decode("abc"), decode_error);
  EXPECT_THROW(wire::base64_decode("ab!d"), decode_error);
  EXPECT_THROW(wire::base64_decode("a=bc"), decode_error);
}

template <class T>
T round_trip(const T& x) {
  // Through text, as on the wire.
  return decode<T>(json::parse(to_json(x).dump()));
}

TEST(WireCodecs, ExecSpecKeepsArgvExactly) {
  exec_spec spec;
  spec.argv = {"printf", "%s|", "a b", "c", "$HOME", "*", "'\"\n"};
  spec.env = {"A=1"};
  spec.cwd = "/root/repo";
  spec.stdin_open = true;
  auto back = round_trip(spec);
  EXPECT_EQ(back.argv, spec.argv);
  EXPECT_EQ(back.env, spec.env);
  EXPECT_EQ(back.cwd, spec.cwd);
  EXPECT_TRUE(back.stdin_open);
}

TEST(WireCodecs, ExecSpecRejectsEmptyArgvAndBadEnv) {
  EXPECT_THROW(decode<exec_spec>(json{{"argv", json::array()}}),
               decode_error);
  EXPECT_THROW(decode<exec_spec>(json{{"argv", {"x"}}, {"env", {"NOEQUALS"}}}),
               decode_error);
  EXPECT_THROW(decode<exec_spec>(json{{"argv", {1, 2}}}), decode_error);
}

TEST(WireCodecs, OutputChunksCarryBinaryBytes) {
  output_chunk c;
  c.stream = 2;
  c.data = std::string("\0\xff\x80zz", 5);
  auto back = round_trip(c);
  EXPECT_EQ(back.stream, 2);
  EXPECT_EQ(back.data, c.data);
  EXPECT_THROW(decode<output_chunk>(json{{"stream", "stdlog"}, {"data", ""}}),
               decode_error);
}

TEST(WireCodecs, PortsReplyRoundTrips) {
  agent_ports_reply reply;
  reply.ports = {{"tcp", "0.0.0.0", 22, 311, "dropbear"},
                 {"udp6", "::", 5353, 0, ""}};
  auto back = round_trip(reply);
  ASSERT_EQ(back.ports.size(), 2u);
  EXPECT_EQ(back.ports[0].proto, "tcp");
  EXPECT_EQ(back.ports[0].address, "0.0.0.0");
  EXPECT_EQ(back.ports[0].port, 22u);
  EXPECT_EQ(back.ports[0].pid, 311);
  EXPECT_EQ(back.ports[0].process, "dropbear");
  EXPECT_EQ(back.ports[1].proto, "udp6");
  EXPECT_EQ(back.ports[1].pid, 0);
  EXPECT_TRUE(round_trip(agent_ports_reply{}).ports.empty());
  // pid and process may be left out (unknown owner).
  auto short_form = decode<agent_port>(
      json{{"proto", "udp"}, {"address", "10.0.0.2"}, {"port", 53}});
  EXPECT_EQ(short_form.pid, 0);
  EXPECT_EQ(short_form.process, "");
}

TEST(WireCodecs, PortsReplyIsStrict) {
  json good = {{"proto", "tcp"}, {"address", "::"}, {"port", 22},
               {"pid", 1},       {"process", "sshd"}};
  EXPECT_NO_THROW(decode<agent_port>(good));
  auto with = [&](const char* key, json value) {
    auto j = good;
    j[key] = std::move(value);
    return j;
  };
  EXPECT_THROW(decode<agent_port>(with("proto", "sctp")), decode_error);
  EXPECT_THROW(decode<agent_port>(with("port", 65536)), decode_error);
  EXPECT_THROW(decode<agent_port>(with("port", 4294967318ull)), decode_error);
  EXPECT_THROW(decode<agent_port>(with("port", -1)), decode_error);
  EXPECT_THROW(decode<agent_port>(with("port", "22")), decode_error);
  EXPECT_THROW(decode<agent_port>(with("pid", -5)), decode_error);
  EXPECT_THROW(decode<agent_port>(with("extra", 1)), decode_error);
  auto no_address = good;
  no_address.erase("address");
  EXPECT_THROW(decode<agent_port>(no_address), decode_error);
  EXPECT_THROW(decode<agent_ports_reply>(json::object()), decode_error);
  EXPECT_THROW(decode<agent_ports_reply>(json{{"ports", {1}}}), decode_error);
  EXPECT_THROW(decode<agent_ports_reply>(json{{"ports", "none"}}),
               decode_error);
}

TEST(WireCodecs, VmMessagesRoundTrip) {
  vm_info info;
  info.id = "0123456789abcdef";
  info.name = "box";
  info.state = "running";
  info.vcpu = 2;
  info.memory_mib = 512;
  info.disk_bytes = 20ull << 30;
  info.pid = 1234;
  info.boot_ms = 3900;
  info.host_files = false;
  info.stages = {{"disks", 12}, {"vmm", 40}, {"agent", 3850}};
  info.root_disk_used = 196608;
  info.work_disk_used = 1ull << 20;
  vm_list list{{info, info}};
  auto back = round_trip(list);
  ASSERT_EQ(back.vms.size(), 2u);
  EXPECT_EQ(back.vms[1].name, "box");
  EXPECT_EQ(back.vms[1].memory_mib, 512u);
  EXPECT_EQ(back.vms[1].boot_ms, 3900u);
  EXPECT_EQ(back.vms[1].disk_bytes, 20ull << 30);
  EXPECT_FALSE(back.vms[1].host_files);
  ASSERT_EQ(back.vms[1].stages.size(), 3u);
  EXPECT_EQ(back.vms[1].stages[2].name, "agent");
  EXPECT_EQ(back.vms[1].stages[2].ms, 3850u);
  EXPECT_EQ(back.vms[1].root_disk_used, 196608u);
  EXPECT_EQ(back.vms[1].work_disk_used, 1ull << 20);
  EXPECT_TRUE(round_trip(vm_info{}).host_files);

  vm_run_request run;
  run.spec.name = "r";
  run.spec.vcpu = 3;
  run.spec.disk_bytes = 1ull << 30;
  run.spec.host_files = false;
  run.exec.argv = {"true"};
  run.rm = true;
  auto rb = round_trip(run);
  EXPECT_EQ(rb.spec.vcpu, 3u);
  EXPECT_EQ(rb.spec.disk_bytes, 1ull << 30);
  EXPECT_FALSE(rb.spec.host_files);
  EXPECT_EQ(rb.exec.argv, run.exec.argv);
  EXPECT_TRUE(rb.rm);

  EXPECT_EQ(round_trip(vm_delete_request{"box", true}).force, true);
  EXPECT_EQ(round_trip(vm_stop_request{"box", 7}).timeout_s, 7u);
}

TEST(WireCodecs, VmSpecRejectsUnknownFieldsAndWrongTypes) {
  EXPECT_THROW(decode<vm_spec>(json{{"nmae", "box"}}), decode_error);
  EXPECT_THROW(decode<vm_spec>(json{{"vcpu", "2"}}), decode_error);
  EXPECT_THROW(decode<vm_spec>(json{{"vcpu", -1}}), decode_error);
  EXPECT_THROW(decode<vm_ref>(json::object()), decode_error);
}

TEST(WireCodecs, ImageKernelDaemonRoundTrip) {
  image_info img{"default", "default", "/s/images/default/rootfs.ext4",
                 1u << 30, "2026-11-28T00:00:00Z", "docker.io/library/x:1",
                 "sha256:ab", "/s/images/default/work-seed.ext4"};
  auto img2 = round_trip(image_list{{img}}).images.at(0);
  EXPECT_EQ(img2.size_bytes, 1u << 30);
  EXPECT_EQ(img2.work_seed, "/s/images/default/work-seed.ext4");
  EXPECT_EQ(img2.source, "docker.io/library/x:1");
  EXPECT_EQ(img2.digest, "sha256:ab");
  kernel_info k{"default", "/v", "/i", "6.1.0", "t", "catalog:default", "sha256:cd"};
  auto k2 = round_trip(kernel_list{{k}}).kernels.at(0);
  EXPECT_EQ(k2.version, "6.1.0");
  EXPECT_EQ(k2.source, "catalog:default");
  EXPECT_EQ(k2.digest, "sha256:cd");
  daemon_status s;
  s.version = "0.1.0";
  s.vms_running = 3;
  EXPECT_EQ(round_trip(s).vms_running, 3u);
  error_body e{"not_found", "no VM named \"x\"", "abc-1"};
  auto eb = round_trip(e);
  EXPECT_EQ(eb.code, "not_found");
  EXPECT_EQ(eb.op, "abc-1");
}

// -- descriptors over Unix sockets (banger-helper's open_tap / bind_dns) -----

struct sock_pair {
  sock_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
      throw std::runtime_error("socketpair");
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
  unique_fd a, b;
};

/// Reads `size` bytes from `sock`, collecting every descriptor that comes.
std::string recv_exactly(int sock, std::size_t size,
                         std::vector<unique_fd>& fds) {
  std::string out;
  while (out.size() < size) {
    char buf[4096];
    std::vector<int> got;
    auto n = wire::recv_with_fds(sock, buf, sizeof(buf), got);
    for (int f : got)
      fds.emplace_back(f);
    if (n <= 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

TEST(WireFds, SendAllPassesOneDescriptorWithTheData) {
  sock_pair s;
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  unique_fd pipe_r{p[0]}, pipe_w{p[1]};
  wire::envelope env;
  env.id = 3;
  env.type = "result";
  auto frame = wire::encode_frame(env);
  ASSERT_TRUE(wire::send_all(s.a.get(), frame, pipe_w.get()));
  pipe_w.reset(); // the sender's copy goes; the passed one lives on
  std::vector<unique_fd> fds;
  EXPECT_EQ(recv_exactly(s.b.get(), frame.size(), fds), frame);
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_TRUE(::fcntl(fds[0].get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_EQ(::write(fds[0].get(), "hi", 2), 2);
  char buf[2];
  ASSERT_EQ(::read(pipe_r.get(), buf, 2), 2);
  EXPECT_EQ(std::string(buf, 2), "hi");
}

TEST(WireFds, ALargeSendCarriesItOnceAndPlainSendsNone) {
  sock_pair s;
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  unique_fd pipe_r{p[0]}, pipe_w{p[1]};
  // Larger than the socket buffer: send_all needs several sendmsg calls.
  std::string big(4u << 20, 'x');
  std::thread writer([&] {
    EXPECT_TRUE(wire::send_all(s.a.get(), big, pipe_w.get()));
    EXPECT_TRUE(wire::send_all(s.a.get(), "tail"));
  });
  std::vector<unique_fd> fds;
  auto got = recv_exactly(s.b.get(), big.size() + 4, fds);
  writer.join();
  EXPECT_EQ(got.size(), big.size() + 4);
  EXPECT_EQ(got.substr(big.size()), "tail");
  EXPECT_EQ(fds.size(), 1u);
}

TEST(WireFds, SendingToAPeerThatLeftIsAnErrorNotASignal) {
  sock_pair s;
  s.b.reset();
  // Without MSG_NOSIGNAL this would kill the test with SIGPIPE.
  EXPECT_FALSE(wire::send_all(s.a.get(), "x"));
  EXPECT_EQ(errno, EPIPE);
  std::vector<int> fds;
  char buf[4];
  EXPECT_EQ(wire::recv_with_fds(s.a.get(), buf, sizeof(buf), fds), 0);
  EXPECT_TRUE(fds.empty());
}

TEST(WireCodecs, SessionMessagesRoundTrip) {
  session_start_request start;
  start.session = "build";
  start.exec.argv = {"sh", "-c", "echo 'a b'"};
  start.exec.env = {"K=V"};
  start.exec.cwd = "/srv";
  auto sb = round_trip(start);
  EXPECT_EQ(sb.session, "build");
  EXPECT_EQ(sb.exec.argv, start.exec.argv);
  EXPECT_EQ(sb.exec.env, start.exec.env);
  EXPECT_EQ(sb.exec.cwd, "/srv");
  EXPECT_EQ(round_trip(session_start_request{"", start.exec}).session, "");

  auto ab = round_trip(session_attach_request{"s1", false, true});
  EXPECT_EQ(ab.session, "s1");
  EXPECT_FALSE(ab.replay);
  EXPECT_TRUE(ab.follow);
  auto sd = decode<session_attach_request>(json::parse(R"({"session":"x"})"));
  EXPECT_TRUE(sd.replay);
  EXPECT_TRUE(sd.follow);
  EXPECT_EQ(round_trip(session_stop_request{"s1", 10}).signal, 10);

  session_info info;
  info.session = "s1";
  info.state = "exited";
  info.pid = 42;
  info.argv = {"sleep", "1"};
  info.cwd = "/root";
  info.age_ms = 1234;
  info.started_at = "2026-11-29T00:00:00Z";
  info.exit_code = 143;
  info.signal = 15;
  auto ib = round_trip(session_list{{info, info}}).sessions.at(1);
  EXPECT_EQ(ib.session, "s1");
  EXPECT_EQ(ib.state, "exited");
  EXPECT_EQ(ib.pid, 42);
  EXPECT_EQ(ib.argv, info.argv);
  EXPECT_EQ(ib.cwd, "/root");
  EXPECT_EQ(ib.age_ms, 1234u);
  EXPECT_EQ(ib.started_at, info.started_at);
  EXPECT_EQ(ib.exit_code, 143);
  EXPECT_EQ(ib.signal, 15);

  // The daemon's bodies: the agent's fields and the VM's name side by side.
  vm_session<session_stop_request> vs{"box", {"s2", 9}};
  auto j = to_json(vs);
  EXPECT_EQ(j.at("name"), "box");
  EXPECT_EQ(j.at("session"), "s2");
  auto vb = round_trip(vs);
  EXPECT_EQ(vb.name, "box");
  EXPECT_EQ(vb.body.session, "s2");
  EXPECT_EQ(vb.body.signal, 9);
  auto va = round_trip(vm_session<session_start_request>{"box", start});
  EXPECT_EQ(va.body.exec.argv, start.exec.argv);
}

TEST(WireCodecs, SessionMessagesAreStrict) {
  EXPECT_THROW(decode<session_attach_request>(json::parse(R"({})")),
               decode_error);
  EXPECT_THROW(
    decode<session_attach_request>(json::parse(R"({"session":"a","x":1})")),
    decode_error);
  EXPECT_THROW(decode<session_start_request>(
                 json::parse(R"({"session":"a b","exec":{"argv":["x"]}})")),
               decode_error);
  EXPECT_THROW(decode<session_start_request>(
                 json::parse(R"({"session":"-a","exec":{"argv":["x"]}})")),
               decode_error);
  EXPECT_THROW(decode<session_stop_request>(
                 json::parse(R"({"session":"a","signal":65})")),
               decode_error);
  EXPECT_THROW(decode<session_info>(
                 json::parse(R"({"session":"a","state":"paused"})")),
               decode_error);
  EXPECT_THROW(decode<vm_session<session_stop_request>>(
                 json::parse(R"({"session":"a"})")),
               decode_error);
  EXPECT_THROW(decode<vm_session<session_stop_request>>(
                 json::parse(R"({"name":1,"session":"a"})")),
               decode_error);
  EXPECT_THROW(decode<vm_session<session_stop_request>>(json::parse("[]")),
               decode_error);
  EXPECT_EQ(check_session_name("ok.name_1-x"), "");
  EXPECT_NE(check_session_name(std::string(64, 'a')), "");
  EXPECT_NE(check_session_name(""), "");
}

} // namespace
} // namespace banger

namespace banger {
namespace {

TEST(WireCodecs, AgentHealthProvisionedDefaultsToTrue) {
  using wire::json;
  EXPECT_TRUE(decode<agent_health>(json{{"version", "0.1.0"}}).provisioned);
  EXPECT_FALSE(
      decode<agent_health>(json{{"version", "0.1.0"}, {"provisioned", false}}).provisioned);
  agent_health h;
  h.version = "v";
  h.provisioned = false;
  EXPECT_FALSE(decode<agent_health>(to_json(h)).provisioned);
  EXPECT_THROW(decode<agent_health>(json{{"version", "v"}, {"provisioned", 1}}),
               wire::decode_error);
}

} // namespace
} // namespace banger

namespace banger {
namespace {

TEST(WireCodecs, StreamCreditRoundTripsAndRefusesZeroOrHuge) {
  using wire::json;
  EXPECT_EQ(decode<stream_credit>(to_json(stream_credit{65536})).bytes, 65536u);
  EXPECT_THROW(decode<stream_credit>(json{{"bytes", 0}}), wire::decode_error);
  EXPECT_THROW(decode<stream_credit>(json{{"bytes", std::uint64_t{1} << 41}}),
               wire::decode_error);
  EXPECT_THROW(decode<stream_credit>(json::object()), wire::decode_error);
  EXPECT_THROW(decode<stream_credit>(json{{"bytes", 1}, {"x", 1}}),
               wire::decode_error);
}

TEST(WireCodecs, AgentHealthCreditWindowIsOptional) {
  using wire::json;
  EXPECT_EQ(decode<agent_health>(json{{"version", "0.1.0"}}).credit_window, 0u);
  agent_health h;
  h.version = "v";
  h.credit_window = 1u << 20;
  EXPECT_EQ(decode<agent_health>(to_json(h)).credit_window, 1u << 20);
}

} // namespace
} // namespace banger

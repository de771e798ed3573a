// What banger-helper refuses, each case in its own network namespace: a peer
// with another uid, names outside its rules, links it did not create, bad
// addresses, malformed frames. After every refusal it still serves.

#include <gtest/gtest.h>

#include <cstring>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper/netlink.hpp"
#include "helper/operations.hpp"
#include "helper/tun.hpp"
#include "services/helper_client.hpp"
#include "test/helper/calls.hpp"
#include "test/helper/inspect.hpp"
#include "test/helper/netns.hpp"
#include "test/helper/raw_client.hpp"

namespace banger::test {
namespace {

using helper::netlink;

class HelperRefuses : public running_helper {
protected:
  void make_bridge(helper_client& c) {
    ok(c.ensure_bridge({"bgtest0", "10.77.0.1/24"}));
  }

  /// The helper still answers a fresh connection.
  void expect_still_serving() {
    auto list = helper_client(socket_).list();
    EXPECT_TRUE(list) << error_message(list.error());
  }
};

/// Connects as `uid` in a child; returns what happened as text.
std::string connect_as(uid_t uid, const std::string& socket) {
  int fds[2];
  if (::pipe(fds) != 0)
    return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    if (::setgid(uid) != 0 || ::setuid(uid) != 0) {
      out = "setuid failed";
    } else {
      raw_client c(socket);
      if (!c.connected()) {
        out = std::string("connect: ") + std::strerror(errno);
      } else {
        try {
          c.send_raw(
              wire::encode_frame({wire::protocol_version, 1, helper_msg::list,
                                  wire::json::object()}));
          auto env = c.read();
          out = env ? env->type + " " + env->body.dump() : "eof";
          if (env && c.read())
            out += " (and not closed)";
        } catch (const std::exception& e) {
          out = std::string("exception: ") + e.what();
        }
      }
    }
    wire::write_all(fds[1], out);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  return out;
}

TEST_F(HelperRefuses, APeerWithAnotherUid) {
  // The socket's mode already keeps strangers out...
  auto out = connect_as(stranger_uid, socket_);
  EXPECT_EQ(out, "connect: Permission denied");
  // ...and if its mode were opened up, SO_PEERCRED still does.
  ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0);
  out = connect_as(stranger_uid, socket_);
  EXPECT_EQ(out.rfind("error ", 0), 0u) << out;
  EXPECT_NE(out.find("peer uid 65533 is not the owner"), std::string::npos)
      << out;
  EXPECT_EQ(out.find("not closed"), std::string::npos) << out;
  EXPECT_NE(helper_log().find("uid=65533"), std::string::npos);
  expect_still_serving();
}

TEST_F(HelperRefuses, ATapNameOutsideItsPrefix) {
  helper_client c(socket_);
  make_bridge(c);
  for (const char* name : {"eth0", "tap0", "bgtap", "bgtapX", "bgtap-1",
                           "bgtap0123456789a", "bgtap0;ls", "lo"}) {
    auto err = refused(c.create_tap({name, owner_uid, "bgtest0"}));
    EXPECT_EQ(err.code, "invalid_argument") << name;
    EXPECT_NE(err.message.find(std::string("'") + name + "'"),
              std::string::npos)
        << err.message;
    auto del = refused(c.delete_tap({name}));
    EXPECT_EQ(del.code, "invalid_argument") << name;
  }
  netlink nl;
  EXPECT_FALSE(nl.find("eth0"));
  EXPECT_FALSE(nl.find("tap0"));
  EXPECT_TRUE(nl.find("lo")) << "delete_tap must not touch lo";
  expect_still_serving();
}

TEST_F(HelperRefuses, ATapForAnotherOwner) {
  helper_client c(socket_);
  make_bridge(c);
  auto err = refused(c.create_tap({"bgtap0", 0, "bgtest0"}));
  EXPECT_EQ(err.code, "invalid_argument");
  EXPECT_NE(err.message.find("owner_uid 0"), std::string::npos) << err.message;
  EXPECT_FALSE(netlink().find("bgtap0"));
}

TEST_F(HelperRefuses, ABridgeItDidNotCreate) {
  netlink nl;
  nl.create_bridge("foreign0"); // someone else's bridge
  auto before = nl.find("foreign0");
  ASSERT_TRUE(before);
  helper_client c(socket_);
  // Not the helper's --bridge: refused whatever the link is.
  auto err = refused(c.ensure_bridge({"foreign0", "10.77.0.1/24"}));
  EXPECT_EQ(err.code, "invalid_argument");
  EXPECT_NE(err.message.find("'foreign0'"), std::string::npos) << err.message;
  // Even when root configured that name, a bridge it did not make is left
  // alone.
  stop_helper();
  start_helper({"--bridge", "foreign0", "--subnet", "10.78.0.0/24"});
  err = refused(c.ensure_bridge({"foreign0", "10.78.0.1/24"}));
  EXPECT_EQ(err.code, "already_exists");
  EXPECT_NE(err.message.find("'foreign0'"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("not created by banger-helper"), std::string::npos)
      << err.message;
  auto tap = refused(c.create_tap({"bgtap0", owner_uid, "foreign0"}));
  EXPECT_EQ(tap.code, "bad_state");
  auto nat = refused(c.add_nat({"10.78.0.5", "foreign0"}));
  EXPECT_EQ(nat.code, "bad_state");
  // Untouched: no alias, no address, still down, no TAP, no NAT table.
  auto after = nl.find("foreign0");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->alias, "");
  EXPECT_FALSE(after->up);
  EXPECT_TRUE(nl.addresses(after->index).empty());
  EXPECT_FALSE(nl.find("bgtap0"));
  EXPECT_FALSE(nft_banger_table());
  // Another bridge name is refused, a non-bridge link too.
  EXPECT_EQ(refused(c.create_tap({"bgtap0", owner_uid, "nosuch0"})).code,
            "invalid_argument");
  EXPECT_EQ(refused(c.ensure_bridge({"lo", "10.78.0.1/24"})).code,
            "invalid_argument");
  expect_still_serving();
}

TEST_F(HelperRefuses, ATapItDidNotCreate) {
  helper_client c(socket_);
  make_bridge(c);
  // Inside the prefix, but made by someone else (no mark).
  helper::create_persistent_tap("bgtap5", owner_uid);
  netlink nl;
  auto before = nl.find("bgtap5");
  ASSERT_TRUE(before);
  EXPECT_EQ(refused(c.delete_tap({"bgtap5"})).code, "bad_state");
  EXPECT_EQ(refused(c.create_tap({"bgtap5", owner_uid, "bgtest0"})).code,
            "already_exists");
  auto after = nl.find("bgtap5");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->index, before->index);
  EXPECT_EQ(after->master, 0);
  auto list = ok(c.list());
  EXPECT_TRUE(list.taps.empty());
}

TEST_F(HelperRefuses, BadNamesAndAddresses) {
  helper_client c(socket_);
  make_bridge(c);
  EXPECT_EQ(refused(c.ensure_bridge({"Bad", "10.79.0.1/24"})).code,
            "invalid_argument");
  EXPECT_EQ(refused(c.ensure_bridge({"bgtap9", "10.79.0.1/24"})).code,
            "invalid_argument"); // a bridge in the TAP namespace
  for (const char* cidr : {"10.79.0.0/24", "10.79.0.1", "10.79.0.1/33",
                           "127.0.0.1/8", "10.79.0.1/24; flush ruleset"})
    EXPECT_EQ(refused(c.ensure_bridge({"bgtest1", cidr})).code,
              "invalid_argument")
        << cidr;
  for (const char* ip :
       {"10.77.0", "10.77.0.5/32", "10.77.0.5 ", "127.0.0.1", "10.77.0.1",
        "10.77.0.255", "10.78.0.5", "10.77.0.5\" masquerade"})
    EXPECT_EQ(refused(c.add_nat({ip, "bgtest0"})).code, "invalid_argument")
        << ip;
  EXPECT_EQ(refused(c.remove_nat({"x"})).code, "invalid_argument");
  EXPECT_FALSE(netlink().find("bgtest1"));
  auto table = nft_banger_table();
  EXPECT_TRUE(!table || count(*table, "masquerade") == 0);
}

TEST_F(HelperRefuses, MalformedFrames) {
  raw_client c(socket_);
  auto frame = [](const std::string& payload) {
    std::string out;
    auto n = static_cast<std::uint32_t>(payload.size());
    out.push_back(static_cast<char>(n >> 24));
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
    return out + payload;
  };
  auto expect_error = [&](const std::string& payload, std::uint64_t id,
                          const std::string& words) {
    c.send_raw(frame(payload));
    auto env = c.read();
    ASSERT_TRUE(env) << payload;
    EXPECT_EQ(env->type, helper_msg::error) << payload;
    EXPECT_EQ(env->id, id) << payload;
    auto body = decode<error_body>(env->body);
    EXPECT_EQ(body.code, "protocol") << payload;
    EXPECT_NE(body.message.find(words), std::string::npos)
        << payload << " -> " << body.message;
  };
  expect_error("{not json", 0, "malformed JSON");
  expect_error("[1,2]", 0, "not a JSON object");
  expect_error(R"({"v":2,"id":3,"type":"helper.list","body":{}})", 3,
               "unsupported protocol version");
  expect_error(R"({"v":1,"id":4,"type":"helper.list","body":{},"x":1})", 4,
               "unknown field 'x'");
  expect_error(R"({"v":1,"id":5,"type":"helper.format_disk","body":{}})", 5,
               "unknown message type 'helper.format_disk'");
  expect_error(
      R"({"v":1,"id":6,"type":"helper.delete_tap","body":{"name":"bgtap1","force":true}})",
      6, "unknown field 'force'");
  expect_error(
      R"({"v":1,"id":7,"type":"helper.create_tap","body":{"name":"bgtap1"}})",
      7, "missing field");
  expect_error(R"({"v":1,"id":8,"type":"helper.list","body":[]})", 8,
               "must be an object");
  // The same connection still works after all of that.
  EXPECT_EQ(c.call(helper_msg::list, wire::json::object()).type,
            helper_msg::result);

  // An oversized length: an error, then the connection closes.
  raw_client big(socket_);
  big.send_raw(std::string("\x00\x10\x00\x00", 4) + "{}");
  auto env = big.read();
  ASSERT_TRUE(env);
  EXPECT_EQ(env->type, helper_msg::error);
  EXPECT_NE(decode<error_body>(env->body).message.find("exceeds the limit"),
            std::string::npos);
  EXPECT_FALSE(big.read()) << "connection stayed open after an oversized frame";

  // Half a frame then hang-up does not wedge it either.
  {
    raw_client half(socket_);
    half.send_raw(std::string("\x00\x00\x00\x40", 4) + "{\"v\":1");
  }
  expect_still_serving();
}

TEST_F(HelperRefuses, EverythingOutsideAPrefixOfItsChoice) {
  stop_helper();
  start_helper({"--tap-prefix", "vmtap"});
  helper_client c(socket_);
  make_bridge(c);
  EXPECT_EQ(refused(c.create_tap({"bgtap0", owner_uid, "bgtest0"})).code,
            "invalid_argument");
  ok(c.create_tap({"vmtap0", owner_uid, "bgtest0"}));
  EXPECT_TRUE(netlink().find("vmtap0"));
}

} // namespace
} // namespace banger::test

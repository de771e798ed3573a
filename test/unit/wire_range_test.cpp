// Integers the decoders read must fit their field: a value out of range is a
// decode error naming the field, never silently narrowed. Found by the
// fuzzers (test/fuzz/corpus/{vm,daemon}/regress-uint32-narrowing-*): a
// vm.stop with timeout_s 21474836480 became 0, "the daemon's default".

#include <gtest/gtest.h>

#include "messages/agent.hpp"
#include "messages/helper.hpp"
#include "messages/vm.hpp"

namespace banger {
namespace {

template <class T>
std::string refusal(const char* text) {
  try {
    decode<T>(wire::json::parse(text));
  } catch (const wire::decode_error& e) {
    return e.what();
  }
  return "";
}

TEST(WireRange, UnsignedFieldsRefuseValuesBeyondTheirType) {
  auto why = refusal<vm_stop_request>(R"({"name":"box","timeout_s":21474836480})");
  EXPECT_NE(why.find("timeout_s"), std::string::npos) << why;
  EXPECT_NE(why.find("4294967295"), std::string::npos) << why;
  EXPECT_NE(refusal<vm_spec>(R"({"vcpu":4294967298})"), "");
  EXPECT_NE(refusal<vm_spec>(R"({"memory_mib":18446744073709551615})"), "");
  EXPECT_NE(refusal<helper_create_tap>(
                R"({"name":"bgtap0","owner_uid":4294967296,"bridge":"banger0"})"),
            "");
}

TEST(WireRange, SignedFieldsRefuseValuesBeyondTheirType) {
  EXPECT_NE(refusal<exec_result>(R"({"exit_code":2147483648})"), "");
  EXPECT_NE(refusal<exec_result>(R"({"exit_code":-2147483649})"), "");
  EXPECT_NE(refusal<vm_info>(
                R"({"id":"a","name":"b","state":"running","pid":9223372036854775808})"),
            "");
}

TEST(WireRange, TheLimitsThemselvesAreAccepted) {
  auto stop = decode<vm_stop_request>(
      wire::json::parse(R"({"name":"box","timeout_s":4294967295})"));
  EXPECT_EQ(stop.timeout_s, 4294967295u);
  auto r = decode<exec_result>(wire::json::parse(R"({"exit_code":-2147483648})"));
  EXPECT_EQ(r.exit_code, -2147483648);
  auto info = decode<vm_info>(wire::json::parse(
      R"({"id":"a","name":"b","state":"running","pid":9223372036854775807})"));
  EXPECT_EQ(info.pid, 9223372036854775807);
  EXPECT_EQ(refusal<vm_stop_request>(R"({"name":"box","timeout_s":-1})")
                .find("non-negative") != std::string::npos,
            true);
}

} // namespace
} // namespace banger

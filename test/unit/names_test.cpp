// VM, image and kernel names: RFC 1123 labels, refused with a reason that
// names the input; generated names are valid and free.

#include "services/names.hpp"

#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace banger {
namespace {

bool in_class(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// Every byte value in the middle of a name: valid exactly for [a-z0-9-].
TEST(names, every_byte_in_the_middle) {
  for (int b = 0; b < 256; ++b) {
    std::string name = "a";
    name += static_cast<char>(b);
    name += "b";
    auto why = validate_vm_name(name);
    EXPECT_EQ(why.empty(), in_class(static_cast<unsigned char>(b)))
      << "byte " << b << ": " << why;
  }
}

// Every byte value as a whole one-character name: '-' alone is refused too.
TEST(names, every_byte_alone) {
  for (int b = 0; b < 256; ++b) {
    std::string name(1, static_cast<char>(b));
    auto why = validate_vm_name(name);
    EXPECT_EQ(why.empty(), in_class(static_cast<unsigned char>(b)) && b != '-')
      << "byte " << b << ": " << why;
  }
}

struct bad_case {
  const char* label;
  std::string name;
  const char* detail;
};

class names_invalid : public ::testing::TestWithParam<bad_case> {};

TEST_P(names_invalid, is_refused_with_a_one_line_reason) {
  const auto& c = GetParam();
  auto why = validate_vm_name(c.name);
  ASSERT_FALSE(why.empty()) << c.label;
  EXPECT_EQ(why.rfind("invalid VM name \"", 0), 0u) << why;
  EXPECT_NE(why.find("use 1-63 lowercase letters, digits or '-', not starting "
                     "or ending with '-'"),
            std::string::npos)
    << why;
  EXPECT_NE(why.find(c.detail), std::string::npos) << why;
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  EXPECT_EQ(why.find('\r'), std::string::npos) << why;
  for (char ch : why)
    EXPECT_GE(static_cast<unsigned char>(ch), 0x20) << c.label << ": " << why;
}

INSTANTIATE_TEST_SUITE_P(
  matrix, names_invalid,
  ::testing::Values(
    bad_case{"empty", "", "it is empty"},
    bad_case{"space", "my vm", "byte 0x20 at position 3"},
    bad_case{"newline", "my\nvm", "byte 0x0a at position 3"},
    bad_case{"tab", "my\tvm", "byte 0x09 at position 3"},
    bad_case{"carriage_return", "vm\r", "byte 0x0d at position 3"},
    bad_case{"nul", std::string("a\0b", 3), "byte 0x00 at position 2"},
    bad_case{"escape", "a\x1b[31mb", "byte 0x1b at position 2"},
    bad_case{"delete", "a\x7f", "byte 0x7f at position 2"},
    bad_case{"dot", "a.b", "'.' at position 2"},
    bad_case{"slash", "a/b", "'/' at position 2"},
    bad_case{"dotdot", "..", "'.' at position 1"},
    bad_case{"colon", "a:b", "':' at position 2"},
    bad_case{"equals", "a=b", "'=' at position 2"},
    bad_case{"double_quote", "a\"b", "'\"' at position 2"},
    bad_case{"single_quote", "a'b", "''' at position 2"},
    bad_case{"backslash", "a\\b", "'\\' at position 2"},
    bad_case{"underscore", "a_b", "'_' at position 2"},
    bad_case{"uppercase", "Bad_Name", "'B' at position 1"},
    bad_case{"upper_only", "VM", "'V' at position 1"},
    bad_case{"unicode_letter", "caf\xc3\xa9", "byte 0xc3 at position 4"},
    bad_case{"cyrillic", "\xd0\xb2\xd0\xbc", "byte 0xd0 at position 1"},
    bad_case{"leading_dash", "-x", "it starts with '-'"},
    bad_case{"trailing_dash", "x-", "it ends with '-'"},
    bad_case{"dash_only", "-", "it starts with '-'"},
    bad_case{"too_long", std::string(64, 'a'), "it has 64 characters"},
    bad_case{"much_too_long", std::string(5000, 'a'), "it has 5000 characters"}),
  [](const auto& info) { return std::string(info.param.label); });

TEST(names, valid_names) {
  for (const std::string& name :
       std::vector<std::string>{"a", "0", "vm1", "my-vm", "a--b", "123", "9-9",
                                "web-01", std::string(63, 'z')})
    EXPECT_EQ(validate_vm_name(name), "") << name;
}

TEST(names, sixty_three_is_the_limit) {
  EXPECT_EQ(validate_vm_name(std::string(63, 'a')), "");
  EXPECT_NE(validate_vm_name(std::string(64, 'a')), "");
  EXPECT_NE(validate_vm_name(std::string(62, 'a') + "-"), "");
}

TEST(names, the_reason_names_the_input_as_typed) {
  EXPECT_EQ(validate_vm_name("Bad_Name"),
            "invalid VM name \"Bad_Name\": use 1-63 lowercase letters, digits "
            "or '-', not starting or ending with '-' ('B' at position 1 is not "
            "allowed)");
  // Control characters and quotes are escaped, not echoed raw.
  auto why = validate_vm_name("a\"b\nc");
  EXPECT_NE(why.find("\"a\\\"b\\nc\""), std::string::npos) << why;
  // Long input is cut short in the echo.
  EXPECT_LT(validate_vm_name(std::string(5000, 'a')).size(), 300u);
}

TEST(names, no_normalisation) {
  EXPECT_NE(validate_vm_name(" vm"), "");
  EXPECT_NE(validate_vm_name("vm "), "");
  EXPECT_NE(validate_vm_name("My-VM"), "");
}

TEST(names, kind_appears_in_the_reason) {
  EXPECT_EQ(validate_object_name("image", "debian-12"), "");
  EXPECT_EQ(validate_object_name("image", "a.b").rfind("invalid image name \"a.b\": ", 0),
            0u);
  EXPECT_EQ(validate_object_name("kernel", "6.1").rfind("invalid kernel name \"6.1\": ", 0),
            0u);
}

TEST(names, generated_names_are_valid_adjective_noun) {
  const std::regex shape{"[a-z]+-[a-z]+"};
  std::set<std::string> seen;
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    auto name = generate_vm_name([](const std::string&) { return false; }, seed);
    EXPECT_EQ(validate_vm_name(name), "") << name;
    EXPECT_TRUE(std::regex_match(name, shape)) << name;
    seen.insert(name);
  }
  EXPECT_GT(seen.size(), 100u); // the word lists are not degenerate
}

TEST(names, generated_names_avoid_taken_ones) {
  std::set<std::string> taken;
  auto is_taken = [&](const std::string& n) { return taken.count(n) > 0; };
  for (int i = 0; i < 200; ++i) {
    auto name = generate_vm_name(is_taken, 42); // same seed: must still differ
    EXPECT_EQ(validate_vm_name(name), "") << name;
    EXPECT_TRUE(taken.insert(name).second) << "repeated " << name;
  }
}

TEST(names, generated_names_get_a_suffix_when_all_bare_names_are_taken) {
  const std::regex bare{"[a-z]+-[a-z]+"};
  auto name = generate_vm_name(
    [&](const std::string& n) { return std::regex_match(n, bare); }, 1);
  EXPECT_TRUE(std::regex_match(name, std::regex{"[a-z]+-[a-z]+-2"})) << name;
  // -2 and -3 taken too: the counter goes on.
  auto later = generate_vm_name(
    [](const std::string& n) { return n.size() < 2 || n.substr(n.size() - 2) != "-4"; },
    1);
  EXPECT_TRUE(std::regex_match(later, std::regex{"[a-z]+-[a-z]+-4"})) << later;
  EXPECT_EQ(validate_vm_name(later), "");
}

TEST(names, unseeded_generation_works) {
  auto name = generate_vm_name([](const std::string& n) { return n.empty(); });
  EXPECT_EQ(validate_vm_name(name), "") << name;
}

} // namespace
} // namespace banger

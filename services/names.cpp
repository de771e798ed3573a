#include "services/names.hpp"

#include <array>
#include <random>

#include <fmt/format.h>

namespace banger {

namespace {

constexpr std::string_view rule
  = "use 1-63 lowercase letters, digits or '-', not starting or ending with '-'";

// Long or hostile input must not flood the terminal or break the line, so the
// echo is cut short and anything outside printable ASCII is escaped.
std::string quote(std::string_view s) {
  constexpr std::size_t max_echo = 80;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < max_echo; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\')
      out += fmt::format("\\{}", static_cast<char>(c));
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c >= 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (s.size() > max_echo)
    out += "...";
  return out + "\"";
}

bool allowed(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// Which rule the name breaks, so that the user need not count characters.
std::string detail(std::string_view name) {
  if (name.empty())
    return "it is empty";
  if (name.size() > max_name_length)
    return fmt::format("it has {} characters", name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (allowed(name[i]))
      continue;
    auto c = static_cast<unsigned char>(name[i]);
    auto what = (c > 0x20 && c < 0x7f) ? fmt::format("'{}'", name[i])
                                       : fmt::format("byte 0x{:02x}", c);
    return fmt::format("{} at position {} is not allowed", what, i + 1);
  }
  if (name.front() == '-')
    return "it starts with '-'";
  if (name.back() == '-')
    return "it ends with '-'";
  return {};
}

constexpr std::array adjectives{
  "agile",  "bold",   "brave",  "bright", "calm",   "clever", "cosy",
  "crisp",  "eager",  "fancy",  "fast",   "gentle", "happy",  "jolly",
  "keen",   "kind",   "lively", "lucky",  "mellow", "merry",  "nimble",
  "noble",  "proud",  "quick",  "quiet",  "rapid",  "shiny",  "silent",
  "sleepy", "snappy", "steady", "sunny",  "swift",  "tidy",   "vivid",
  "wise",   "witty",  "zesty",
};

constexpr std::array nouns{
  "badger", "beaver", "bison",  "crane",  "falcon", "ferret", "finch",
  "gecko",  "heron",  "ibis",   "koala",  "lemur",  "lynx",   "marten",
  "moose",  "newt",   "ocelot", "otter",  "panda",  "puffin", "quail",
  "raven",  "robin",  "salmon", "seal",   "shrew",  "sloth",  "stoat",
  "swan",   "tapir",  "tern",   "toad",   "trout",  "walrus", "wombat",
  "wren",   "yak",    "zebra",
};

} // namespace

std::string validate_object_name(std::string_view kind, std::string_view name) {
  auto why = detail(name);
  if (why.empty())
    return {};
  return fmt::format("invalid {} name {}: {} ({})", kind, quote(name), rule, why);
}

std::string validate_vm_name(std::string_view name) {
  return validate_object_name("VM", name);
}

std::string generate_vm_name(const std::function<bool(const std::string&)>& taken,
                             std::uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::uniform_int_distribution<std::size_t> adj(0, adjectives.size() - 1);
  std::uniform_int_distribution<std::size_t> noun(0, nouns.size() - 1);
  // A few random picks first: with ~1400 combinations a free one is likely,
  // and bare names are nicer to type than suffixed ones.
  std::string base;
  for (int attempt = 0; attempt < 16; ++attempt) {
    base = fmt::format("{}-{}", adjectives[adj(rng)], nouns[noun(rng)]);
    if (!taken(base))
      return base;
  }
  for (std::uint64_t n = 2;; ++n) {
    auto name = fmt::format("{}-{}", base, n);
    if (!taken(name))
      return name;
  }
}

std::string generate_vm_name(const std::function<bool(const std::string&)>& taken) {
  return generate_vm_name(taken, std::random_device{}());
}

} // namespace banger

#pragma once
// What every decoder fuzz target checks, for one JSON message family:
//  - a frame payload goes through wire::parse_envelope; only decode_error
//    may come out of it (anything else escaping is a crash: a bug);
//  - the body goes to the decoder its type names (or, for any other type,
//    to every decoder of the family) and only decode_error may come out;
//  - what decodes re-encodes, and that encoding decodes again to the same
//    JSON (the codecs are each other's inverse);
//  - numbers survive: a value the decoder accepted comes back unchanged
//    (catches silent narrowing, e.g. 4294967297 into a uint32_t as 1).
// The seeds in corpus/<family>/ are frame payloads, one per message type.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "messages/agent.hpp"
#include "messages/wire.hpp"

namespace banger::fuzz {

[[noreturn]] inline void bug(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

inline void same_numbers(const wire::json& in, const wire::json& out,
                         const std::string& where) {
  if (in.is_number() && out.is_number()) {
    if (in != out)
      bug("a number changed on decode",
          where + ": " + in.dump() + " -> " + out.dump());
  } else if (in.is_object() && out.is_object()) {
    for (auto& [k, v] : out.items())
      if (auto it = in.find(k); it != in.end())
        same_numbers(*it, v, where + "." + k);
  } else if (in.is_array() && out.is_array() && in.size() == out.size()) {
    for (std::size_t i = 0; i < in.size(); ++i)
      same_numbers(in[i], out[i], where + "[" + std::to_string(i) + "]");
  }
}

template <class T> void exercise(const wire::json& body) {
  T x;
  try {
    x = decode<T>(body);
  } catch (const wire::decode_error&) {
    return;
  }
  auto j = to_json(x);
  T y;
  try {
    y = decode<T>(j);
  } catch (const wire::decode_error& e) {
    bug("an encoded message does not decode", j.dump() + ": " + e.what());
  }
  if (to_json(y) != j)
    bug("decode(encode(x)) != x", j.dump() + " vs " + to_json(y).dump());
  same_numbers(body, j, "body");
}

struct entry {
  std::string_view type;
  void (*run)(const wire::json&);
};

inline int run_family(const std::uint8_t* data, std::size_t size,
                      std::span<const entry> family) {
  std::string_view payload(reinterpret_cast<const char*>(data), size);
  wire::envelope env;
  try {
    env = wire::parse_envelope(payload);
  } catch (const wire::decode_error&) {
    return 0;
  }
  bool known = false;
  for (auto& e : family)
    if (e.type == env.type) {
      e.run(env.body);
      known = true;
    }
  if (!known)
    for (auto& e : family)
      e.run(env.body);
  return 0;
}

} // namespace banger::fuzz

// The frame codec: a byte stream fed to wire::frame_reader in pieces, each
// payload through parse_envelope. Only decode_error may escape; what parses
// re-encodes to a frame that reads back as the same envelope; base64 (the
// stdin/stdout chunks) decodes only what it can re-encode.

#include <cstdint>
#include <string>

#include "messages/wire.hpp"
#include "test/fuzz/harness.hpp"

using namespace banger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // A small limit, so that the fuzzer also meets oversized frames.
  wire::frame_reader reader(4096);
  // Feed in uneven pieces: the reader must not care where reads split.
  std::size_t pos = 0, step = 1;
  try {
    while (pos < in.size()) {
      auto n = std::min(step, in.size() - pos);
      reader.feed(in.data() + pos, n);
      pos += n;
      step = step * 3 % 17 + 1;
      while (auto payload = reader.next()) {
        wire::envelope env;
        try {
          env = wire::parse_envelope(*payload);
        } catch (const wire::decode_error&) {
          continue;
        }
        auto frame = wire::encode_frame(env);
        wire::frame_reader again(frame.size());
        again.feed(frame.data(), frame.size());
        auto back_payload = again.next();
        if (!back_payload || again.buffered() != 0)
          fuzz::bug("an encoded frame does not read back", frame);
        auto back = wire::parse_envelope(*back_payload);
        if (back.v != env.v || back.id != env.id || back.type != env.type
            || back.body != env.body)
          fuzz::bug("envelope round trip", *payload + " -> " + frame);
      }
    }
  } catch (const wire::decode_error&) {
    // An oversized frame: the stream is unusable, as documented.
  }
  try {
    auto bytes = wire::base64_decode(in);
    if (wire::base64_decode(wire::base64_encode(bytes)) != bytes)
      fuzz::bug("base64 round trip", std::string(in));
  } catch (const wire::decode_error&) {
  }
  return 0;
}

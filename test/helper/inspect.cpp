#include "test/helper/inspect.hpp"

#include <nftables/libnftables.h>

namespace banger::test {

std::optional<std::string> nft_banger_table() {
  auto ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  std::optional<std::string> out;
  if (nft_run_cmd_from_buffer(ctx, "list table ip banger") == 0)
    out = nft_ctx_get_output_buffer(ctx);
  nft_ctx_free(ctx);
  return out;
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size()))
    ++n;
  return n;
}

} // namespace banger::test

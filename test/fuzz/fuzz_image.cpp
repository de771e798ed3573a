// Every codec of messages/image.hpp: images, kernels, imports and pulls.

#include "messages/image.hpp"
#include "test/fuzz/harness.hpp"

using namespace banger;
using fuzz::exercise;

namespace {
constexpr fuzz::entry family[] = {
    {"image_info", exercise<image_info>},
    {"kernel_info", exercise<kernel_info>},
    {"image_list", exercise<image_list>},
    {"kernel_list", exercise<kernel_list>},
    {"image_import_request", exercise<image_import_request>},
    {"kernel_import_request", exercise<kernel_import_request>},
    {"image_pull_request", exercise<image_pull_request>},
    {"image_build_request", exercise<image_build_request>},
    {"kernel_pull_request", exercise<kernel_pull_request>},
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return fuzz::run_family(data, size, family);
}

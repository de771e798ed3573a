#pragma once
// What a pull request means, decided before any work starts (cheap, no I/O
// beyond reading catalogs): the name it produces, where it comes from, and
// the blocking work that makes the files. The pullers run the work.

#include <atomic>
#include <functional>
#include <string>

#include <caf/expected.hpp>

#include "actors/config.hpp"
#include "messages/image.hpp"
#include "services/catalog.hpp"
#include "services/image_pull.hpp"

namespace banger {

template <class Info>
struct pull_plan {
  /// "image" or "kernel", for messages.
  std::string what;
  /// The name of the result; one pull per key at a time.
  std::string key;
  /// Where it comes from (stored as Info::source).
  std::string source;
  /// A kernel that must exist before the work starts ("" for none).
  std::string needs_kernel;
  /// Blocking: makes the files and returns the unregistered result.
  std::function<caf::expected<Info>(progress_fn, std::atomic<bool>*)> work;
  /// The field holding a file inside the result's directory (for cleanup).
  std::string Info::*file = nullptr;
};

/// Decides a request's plan from the catalogs' entries.
template <class Info, class Request>
using plan_fn = std::function<caf::expected<pull_plan<Info>>(
  const Request&, const std::vector<catalog_entry>&)>;

/// A bare name ("debian-bookworm") may be a catalog entry; anything with a
/// registry, tag or digest is an OCI reference only.
bool may_be_catalog_name(const std::string& ref);

/// A catalog image of that name (for this host's architecture) wins;
/// otherwise `ref` is an OCI reference.
caf::expected<pull_plan<image_info>>
plan_image_pull(const daemon_config& config, const image_pull_request& req,
                const std::vector<catalog_entry>& catalog);

caf::expected<pull_plan<kernel_info>>
plan_kernel_pull(const daemon_config& config, const kernel_pull_request& req,
                 const std::vector<catalog_entry>& catalog);

} // namespace banger

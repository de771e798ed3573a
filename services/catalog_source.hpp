#pragma once
// Where catalogs live (internal to the catalog service, tested through it):
// reading a catalog from a path, file:// or http(s) URL, and resolving the
// URLs inside it against that location.

#include <string>

#include <caf/expected.hpp>

#include "services/catalog.hpp"

namespace banger {

/// The catalog's text. Missing (no file, HTTP 404/410): ec::not_found;
/// unreachable or failing server: ec::unavailable; more than 4 MiB, a
/// directory, an unsupported scheme: ec::invalid_argument; ec::cancelled.
caf::expected<std::string>
read_catalog_source(const std::string& source,
                    const catalog_load_options& opts);

/// `url` as written in the catalog at `source`, made absolute: URLs with a
/// scheme are kept (http, https, file; file only in local catalogs);
/// relative ones resolve against an http(s) catalog's URL, or to an
/// absolute path next to a local catalog. Unusable: ec::invalid_argument
/// with a reason (no catalog name in it).
caf::expected<std::string> resolve_catalog_url(const std::string& source,
                                               const std::string& url);

} // namespace banger

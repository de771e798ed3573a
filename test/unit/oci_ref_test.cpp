// Image references follow `docker pull`'s rules: Hub normalisation, registry
// detection, tags and digests; bad input is refused naming the input.

#include "services/oci_ref.hpp"

#include <string>

#include <gtest/gtest.h>

#include "services/error.hpp"

namespace banger {
namespace {

const std::string hex64 =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

oci_ref ok(const std::string& text) {
  auto r = parse_oci_ref(text);
  EXPECT_TRUE(r) << text << ": " << (r ? "" : error_message(r.error()));
  return r ? *r : oci_ref{};
}

void refused(const std::string& text, const std::string& fragment) {
  auto r = parse_oci_ref(text);
  ASSERT_FALSE(r) << text << " was accepted as " << r->str();
  EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
  auto msg = error_message(r.error());
  EXPECT_NE(msg.find("'" + text + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
}

TEST(oci_ref, hub_single_name_gets_library_and_latest) {
  auto r = ok("debian");
  EXPECT_EQ(r.registry, "registry-1.docker.io");
  EXPECT_EQ(r.repository, "library/debian");
  EXPECT_EQ(r.tag, "latest");
  EXPECT_EQ(r.digest, "");
  EXPECT_EQ(r.str(), "registry-1.docker.io/library/debian:latest");
  EXPECT_EQ(r.reference(), "latest");
}

TEST(oci_ref, hub_aliases_normalise) {
  for (auto text : {"docker.io/debian:12", "index.docker.io/debian:12",
                    "docker.io/library/debian:12", "debian:12"}) {
    auto r = ok(text);
    EXPECT_EQ(r.registry, "registry-1.docker.io") << text;
    EXPECT_EQ(r.repository, "library/debian") << text;
    EXPECT_EQ(r.tag, "12") << text;
  }
}

TEST(oci_ref, hub_user_repository_keeps_its_path) {
  auto r = ok("someuser/tool:v1.2");
  EXPECT_EQ(r.registry, "registry-1.docker.io");
  EXPECT_EQ(r.repository, "someuser/tool");
  EXPECT_EQ(r.tag, "v1.2");
}

TEST(oci_ref, first_component_with_dot_colon_or_localhost_is_a_registry) {
  auto a = ok("ghcr.io/owner/app:1");
  EXPECT_EQ(a.registry, "ghcr.io");
  EXPECT_EQ(a.repository, "owner/app");
  auto b = ok("127.0.0.1:5000/test/img");
  EXPECT_EQ(b.registry, "127.0.0.1:5000");
  EXPECT_EQ(b.repository, "test/img");
  EXPECT_EQ(b.tag, "latest");
  auto c = ok("localhost/img:dev");
  EXPECT_EQ(c.registry, "localhost");
  EXPECT_EQ(c.repository, "img");
  auto d = ok("myhost:5000/img");
  EXPECT_EQ(d.registry, "myhost:5000");
  EXPECT_EQ(d.repository, "img");
  auto e = ok("[::1]:5000/a/b:t");
  EXPECT_EQ(e.registry, "[::1]:5000");
  EXPECT_EQ(e.repository, "a/b");
  // A plain first component is a Hub namespace, not a host.
  auto f = ok("myhost/img");
  EXPECT_EQ(f.registry, "registry-1.docker.io");
  EXPECT_EQ(f.repository, "myhost/img");
}

TEST(oci_ref, registry_without_repository_is_not_one_component) {
  // "localhost:5000" alone is the Hub repository "localhost" with tag 5000.
  auto r = ok("localhost:5000");
  EXPECT_EQ(r.repository, "library/localhost");
  EXPECT_EQ(r.tag, "5000");
}

TEST(oci_ref, digest_only_has_no_tag) {
  auto r = ok("debian@sha256:" + hex64);
  EXPECT_EQ(r.tag, "");
  EXPECT_EQ(r.digest, "sha256:" + hex64);
  EXPECT_EQ(r.reference(), "sha256:" + hex64);
  EXPECT_EQ(r.str(), "registry-1.docker.io/library/debian@sha256:" + hex64);
}

TEST(oci_ref, tag_and_digest_together) {
  auto r = ok("localhost:5000/x/y:v2@sha256:" + hex64);
  EXPECT_EQ(r.registry, "localhost:5000");
  EXPECT_EQ(r.repository, "x/y");
  EXPECT_EQ(r.tag, "v2");
  EXPECT_EQ(r.digest, "sha256:" + hex64);
  EXPECT_EQ(r.reference(), r.digest); // the digest wins
  EXPECT_EQ(r.str(), "localhost:5000/x/y:v2@sha256:" + hex64);
}

TEST(oci_ref, separators_in_components) {
  for (auto text :
       {"a.b/c", "a_b", "a__b", "a-b", "a---b", "a0/b1.c2_d3__e4-f5"})
    ok(std::string{"r.io/"} + text);
  ok("a_b");
  ok("a--b");
}

TEST(oci_ref, tags_allowed_and_refused) {
  EXPECT_EQ(ok("img:_x").tag, "_x");
  EXPECT_EQ(ok("img:V1.0-rc_2").tag, "V1.0-rc_2");
  EXPECT_EQ(ok("img:" + std::string(128, 'a')).tag.size(), 128u);
  refused("img:" + std::string(129, 'a'), "tag");
  refused("img:.x", "tag '.x'");
  refused("img:-x", "tag '-x'");
  refused("img:", "tag ''");
  refused("img:a+b", "tag 'a+b'");
}

TEST(oci_ref, uppercase_repository_is_refused) {
  refused("Debian", "must be lowercase");
  refused("r.io/Owner/app", "'Owner' must be lowercase");
}

TEST(oci_ref, bad_components_are_refused) {
  refused("r.io/a//b", "empty path component");
  refused("r.io/-a", "'-a'");
  refused("r.io/a-", "'a-'");
  refused("r.io/a___b", "'a___b'");
  refused("r.io/a._b", "'a._b'");
  refused("r.io/.a", "'.a'");
  refused("a/", "empty path component");
  refused("/a", "empty path component");
}

TEST(oci_ref, bad_digests_are_refused) {
  refused("img@sha256:abc", "64 lowercase hex");
  refused("img@sha256:" + std::string(64, 'A'), "64 lowercase hex");
  refused("img@sha512:" + hex64 + hex64, "only sha256");
  refused("img@" + hex64, "sha256:<64 hex digits>");
  refused("img@", "sha256");
}

TEST(oci_ref, empty_and_junk_are_refused) {
  refused("", "empty");
  refused("deb ian", "whitespace");
  refused("r.io/", "repository name is missing");
  refused(":tag", "repository name is missing");
  refused("docker.io/", "repository name is missing");
  refused(hex64, "image ID");
  refused("bad_host!.io/a/b", "registry 'bad_host!.io'");
  refused("r.io/a!b", "'a!b'");
  refused(std::string("r.io/") + std::string(256, 'a'), "longer than 255");
}

TEST(oci_ref, bad_registry_is_refused) {
  refused("-bad.io/a", "registry '-bad.io'");
  refused("r.io:99999x/a", "registry 'r.io:99999x'");
}

TEST(oci_ref, digest_predicate) {
  EXPECT_TRUE(is_sha256_digest("sha256:" + hex64));
  EXPECT_FALSE(is_sha256_digest("sha256:" + hex64.substr(1)));
  EXPECT_FALSE(is_sha256_digest("sha256:" + hex64 + "0"));
  EXPECT_FALSE(is_sha256_digest("SHA256:" + hex64));
}

} // namespace
} // namespace banger

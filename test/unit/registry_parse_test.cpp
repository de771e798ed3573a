// The pure parts of the registry client: Bearer challenges, platform choice
// in an index, and credentials from a docker config file.

#include "services/registry_client.hpp"

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "services/error.hpp"

namespace banger {
namespace {

TEST(bearer_challenge, docker_hub_form) {
  auto c = parse_bearer_challenge(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull")");
  ASSERT_TRUE(c) << error_message(c.error());
  EXPECT_EQ(c->realm, "https://auth.docker.io/token");
  EXPECT_EQ(c->service, "registry.docker.io");
  EXPECT_EQ(c->scope, "repository:library/debian:pull");
}

TEST(bearer_challenge, order_spaces_case_and_commas_in_quotes) {
  auto c = parse_bearer_challenge(
      R"(  bearer scope="repository:a/b:pull,push" ,  Service=reg , realm="http://127.0.0.1:1/t" )");
  ASSERT_TRUE(c) << error_message(c.error());
  EXPECT_EQ(c->realm, "http://127.0.0.1:1/t");
  EXPECT_EQ(c->service, "reg");
  EXPECT_EQ(c->scope, "repository:a/b:pull,push");
}

TEST(bearer_challenge, escaped_quote_and_unknown_keys) {
  auto c = parse_bearer_challenge(
      R"(Bearer error="insufficient_scope",realm="r\"x")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->realm, "r\"x");
  EXPECT_EQ(c->scope, "");
}

TEST(bearer_challenge, refusals_say_why) {
  struct {
    const char* header;
    const char* why;
  } cases[] = {
      {R"(Basic realm="x")", "not Bearer"},
      {"Bearerish realm=x", "not Bearer"},
      {"", "not Bearer"},
      {R"(Bearer service="s")", "no realm"},
      {"Bearer realm", "no '='"},
      {R"(Bearer realm="open)", "not closed"},
  };
  for (auto& c : cases) {
    auto r = parse_bearer_challenge(c.header);
    ASSERT_FALSE(r) << c.header;
    EXPECT_EQ(error_code(r.error()), ec::protocol);
    auto msg = error_message(r.error());
    EXPECT_NE(msg.find(c.why), std::string::npos) << c.header << " -> " << msg;
    EXPECT_NE(msg.find(std::string("'") + c.header + "'"), std::string::npos)
        << msg;
  }
}

oci_descriptor entry(std::string os, std::string arch, std::string variant,
                     std::string d) {
  return {"application/vnd.oci.image.manifest.v1+json",
          "sha256:" + std::string(63, '0') + d,
          1,
          {std::move(os), std::move(arch), std::move(variant)}};
}

oci_ref ref_for_test() {
  return *parse_oci_ref("127.0.0.1:5000/test/img:multi");
}

TEST(select_platform, picks_linux_amd64) {
  std::vector<oci_descriptor> es{entry("linux", "arm64", "v8", "1"),
                                 entry("linux", "amd64", "", "2"),
                                 entry("windows", "amd64", "", "3")};
  auto r = select_platform(es, {"linux", "amd64", ""}, ref_for_test());
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(r->digest.back(), '2');
}

TEST(select_platform, variant_ignored_unless_asked_and_plain_preferred) {
  std::vector<oci_descriptor> es{entry("linux", "arm", "v6", "1"),
                                 entry("linux", "arm", "v7", "2")};
  auto any = select_platform(es, {"linux", "arm", ""}, ref_for_test());
  ASSERT_TRUE(any);
  EXPECT_EQ(any->digest.back(), '1');
  auto v7 = select_platform(es, {"linux", "arm", "v7"}, ref_for_test());
  ASSERT_TRUE(v7);
  EXPECT_EQ(v7->digest.back(), '2');
  es.push_back(entry("linux", "arm", "", "3"));
  auto plain = select_platform(es, {"linux", "arm", ""}, ref_for_test());
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->digest.back(), '3');
  // arm64 entries often omit "v8".
  std::vector<oci_descriptor> a64{entry("linux", "arm64", "", "4")};
  auto v8 = select_platform(a64, {"linux", "arm64", "v8"}, ref_for_test());
  ASSERT_TRUE(v8);
  EXPECT_EQ(v8->digest.back(), '4');
}

TEST(select_platform, no_match_names_reference_and_platforms) {
  std::vector<oci_descriptor> es{entry("linux", "arm64", "v8", "1"),
                                 entry("linux", "s390x", "", "2"),
                                 entry("unknown", "unknown", "", "3")};
  auto r = select_platform(es, {"linux", "amd64", ""}, ref_for_test());
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::not_found);
  auto msg = error_message(r.error());
  EXPECT_NE(msg.find("127.0.0.1:5000/test/img:multi"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("linux/amd64"), std::string::npos) << msg;
  EXPECT_NE(msg.find("linux/arm64/v8, linux/s390x"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("unknown"), std::string::npos) << msg;
}

TEST(select_platform, attestation_entries_never_match) {
  std::vector<oci_descriptor> es{entry("unknown", "unknown", "", "1")};
  EXPECT_FALSE(select_platform(es, {"linux", "amd64", ""}, ref_for_test()));
}

TEST(host_platform, is_linux_with_an_architecture) {
  auto p = host_platform();
  EXPECT_EQ(p.os, "linux");
#if defined(__x86_64__)
  EXPECT_EQ(p.architecture, "amd64");
#endif
}

TEST(docker_config, auth_for_a_registry) {
  // "dXNlcjpwYTpzcw==" is base64("user:pa:ss"): the password keeps its colon.
  auto c = docker_config_credentials(
      R"({"auths":{"other.io":{"auth":"eDp5"},"127.0.0.1:5000":{"auth":"dXNlcjpwYTpzcw=="}}})",
      "127.0.0.1:5000");
  ASSERT_TRUE(c) << error_message(c.error());
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->username, "user");
  EXPECT_EQ((*c)->password, "pa:ss");
}

TEST(docker_config, hub_key_and_scheme_prefixed_keys) {
  auto hub = docker_config_credentials(
      R"({"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldA=="}}})",
      "registry-1.docker.io");
  ASSERT_TRUE(hub);
  ASSERT_TRUE(hub->has_value());
  EXPECT_EQ((*hub)->username, "hub");
  EXPECT_EQ((*hub)->password, "secret");
  auto https = docker_config_credentials(
      R"({"auths":{"https://ghcr.io":{"auth":"eDp5"}}})", "ghcr.io");
  ASSERT_TRUE(https && https->has_value());
  EXPECT_EQ((*https)->username, "x");
  EXPECT_EQ((*https)->password, "y");
}

TEST(docker_config, nothing_stored_is_not_an_error) {
  for (auto text :
       {R"({})", R"({"auths":{}})", R"({"auths":{"ghcr.io":{"auth":"eDp5"}}})",
        R"({"credsStore":"desktop"})"}) {
    auto c = docker_config_credentials(text, "127.0.0.1:5000");
    ASSERT_TRUE(c) << text;
    EXPECT_FALSE(c->has_value()) << text;
  }
}

TEST(docker_config, malformed_is_refused) {
  auto bad_json = docker_config_credentials("{", "r.io");
  ASSERT_FALSE(bad_json);
  EXPECT_EQ(error_code(bad_json.error()), ec::invalid_argument);
  auto bad_b64 =
      docker_config_credentials(R"({"auths":{"r.io":{"auth":"!!!"}}})", "r.io");
  ASSERT_FALSE(bad_b64);
  EXPECT_NE(error_message(bad_b64.error()).find("base64"), std::string::npos);
  auto no_colon = docker_config_credentials(
      R"({"auths":{"r.io":{"auth":"dXNlcg=="}}})", "r.io");
  ASSERT_FALSE(no_colon);
  EXPECT_NE(error_message(no_colon.error()).find("user:password"),
            std::string::npos);
}

TEST(docker_config, default_path_prefers_docker_config) {
  auto* old_dc = std::getenv("DOCKER_CONFIG");
  std::string saved = old_dc ? old_dc : "";
  ::setenv("DOCKER_CONFIG", "/tmp/dc", 1);
  EXPECT_EQ(default_docker_config_path(), "/tmp/dc/config.json");
  ::unsetenv("DOCKER_CONFIG");
  auto* home = std::getenv("HOME");
  if (home) {
    EXPECT_EQ(default_docker_config_path(),
              std::string(home) + "/.docker/config.json");
  }
  if (old_dc)
    ::setenv("DOCKER_CONFIG", saved.c_str(), 1);
}

} // namespace
} // namespace banger

// The version macros and shoal::version() (shoal/version.hpp) follow the
// project's version in meson.build (passed here as SHOAL_PROJECT_VERSION).
#include "shoal/version.hpp"

#include <gtest/gtest.h>

#include <string>

namespace shoal {
namespace {

TEST(Version, TheMacrosTheLibraryAndTheProjectAgree) {
  EXPECT_EQ(std::string(SHOAL_VERSION), SHOAL_PROJECT_VERSION);
  EXPECT_EQ(version(), SHOAL_VERSION);
  const std::string parts = std::to_string(SHOAL_VERSION_MAJOR) + "." +
                            std::to_string(SHOAL_VERSION_MINOR) + "." +
                            std::to_string(SHOAL_VERSION_PATCH);
  EXPECT_EQ(parts, SHOAL_VERSION);
  static_assert(SHOAL_VERSION_NUMBER ==
                SHOAL_VERSION_MAJOR * 10000 + SHOAL_VERSION_MINOR * 100 + SHOAL_VERSION_PATCH);
}

}  // namespace
}  // namespace shoal

#include "shoal/version.hpp"

namespace shoal {

std::string_view version() noexcept { return SHOAL_VERSION; }

}  // namespace shoal

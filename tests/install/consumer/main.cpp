// An installed shoal's smallest user (tests/install/README.md): builds with
// nothing but the installed headers and library, prints "ok" on success.
#include "round_trip.hpp"

int main() { return install_test::round_trip(); }

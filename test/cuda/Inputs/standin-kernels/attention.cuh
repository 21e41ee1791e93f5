// Stand-in family header (see standin.cuh).
#pragma once
#include "standin.cuh"

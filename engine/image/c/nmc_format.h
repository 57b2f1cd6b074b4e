/* nmc_format.h: layout of the .nmc model image.
 * Generated from engine/image/layout.py; do not edit by hand.
 * All multi-byte fields are little-endian. See docs/nmc-format.md. */
#ifndef NMC_FORMAT_H
#define NMC_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* _Static_assert is C11; C99 compilers with GNU extensions accept it marked as an
 * extension, which keeps -std=c99 -pedantic -Werror builds quiet. */
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define NMC_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#elif defined(__GNUC__)
#define NMC_STATIC_ASSERT(cond, msg) __extension__ _Static_assert(cond, msg)
#else
#define NMC_STATIC_ASSERT_NAME2(line) nmc_static_assert_##line
#define NMC_STATIC_ASSERT_NAME(line) NMC_STATIC_ASSERT_NAME2(line)
#define NMC_STATIC_ASSERT(cond, msg) typedef char NMC_STATIC_ASSERT_NAME(__LINE__)[(cond) ? 1 : -1]
#endif

#define NMC_VERSION_MAJOR                            2u
#define NMC_VERSION_MINOR                            2u
#define NMC_ALIGN                                    16u
#define NMC_FLAGS_KNOWN                              0x00000003u  /* every other flag bit must be zero */
#define NMC_MAX_SECURITY_VERSION                     0x00FFFFFFu
#define NMC_MAGIC_SIZE                               8u
#define NMC_MAGIC_BYTES                              {0x89, 0x4E, 0x4D, 0x43, 0x0D, 0x0A, 0x1A, 0x0A}
#define NMC_TRAILER_MAGIC_BYTES                      {0x4E, 0x4D, 0x43, 0x54}

#define NMC_FLAG_LEARNING_LOCKED                     0x00000001u  /* on-chip learning must stay off (runtime policy) */
#define NMC_FLAG_SIGNED                              0x00000002u  /* the trailer carries an Ed25519 signature */

#define NMC_FAMILY_XYLO                              1u
#define NMC_FAMILY_LOIHI                             2u
#define NMC_FAMILY_LIF                               3u
#define NMC_FAMILY_SPECK                             4u

#define NMC_DTYPE_U8                                 1u
#define NMC_DTYPE_I8                                 2u
#define NMC_DTYPE_U16                                3u
#define NMC_DTYPE_I16                                4u
#define NMC_DTYPE_U32                                5u
#define NMC_DTYPE_I32                                6u
#define NMC_DTYPE_U64                                7u
#define NMC_DTYPE_I64                                8u
#define NMC_DTYPE_F64                                9u
#define NMC_DTYPE_UTF8                               16u

#define NMC_SECTION_META                             1u  /* who and what the image is for */
#define NMC_SECTION_TARGET                           2u  /* chip and neuron model family */
#define NMC_SECTION_NETWORK                          3u  /* topology: populations, parameter names, projections */
#define NMC_SECTION_PLACEMENT                        4u  /* mesh and core positions; absent for an unplaced network */
#define NMC_SECTION_NEURONS                          16u  /* neuron parameters of one core */
#define NMC_SECTION_WEIGHTS                          17u  /* synapses stored on one core (the core of their target neuron) */
#define NMC_SECTION_ROUTES                           18u  /* router tables */
#define NMC_SECTION_PREPROC                          32u  /* fixed-point preprocessing coefficients */
#define NMC_SECTION_IO                               33u  /* I/O channel maps */
#define NMC_SECTION_POLICY                           48u  /* runtime policy and sanity bounds for rollback */
#define NMC_SECTION_STATE                            49u  /* versioned layout of the neuron state a snapshot holds */
#define NMC_SECTION_THERMAL                          50u  /* temperature compensation of an analog target (format 2.1; docs/analog.md) */

#define NMC_TAG_META_SITE                            1u
#define NMC_TAG_META_SPEC_HASH                       2u
#define NMC_TAG_META_TOOL_VERSION                    3u
#define NMC_TAG_META_MODEL_NAME                      4u
#define NMC_TAG_META_LABEL                           5u
#define NMC_TAG_TARGET_CHIP                          1u
#define NMC_TAG_TARGET_FAMILY                        2u
#define NMC_TAG_NETWORK_DT                           1u
#define NMC_TAG_NETWORK_N_INPUTS                     2u
#define NMC_TAG_NETWORK_OUTPUT                       3u
#define NMC_TAG_NETWORK_POP_NAME                     4u
#define NMC_TAG_NETWORK_POP_SIZE                     5u
#define NMC_TAG_NETWORK_PARAM_COUNT                  6u
#define NMC_TAG_NETWORK_PARAM_NAME                   7u
#define NMC_TAG_NETWORK_PARAM_SHAPE                  8u
#define NMC_TAG_NETWORK_PROJECTIONS                  9u
#define NMC_TAG_NETWORK_READOUT                      10u
#define NMC_TAG_PLACEMENT_MESH                       1u
#define NMC_TAG_PLACEMENT_CORE_XY                    2u
#define NMC_TAG_NEURONS_POP                          1u
#define NMC_TAG_NEURONS_INDEX                        2u
#define NMC_TAG_NEURONS_PARAM                        3u
#define NMC_TAG_WEIGHTS_PROJ                         1u
#define NMC_TAG_WEIGHTS_INDPTR                       2u
#define NMC_TAG_WEIGHTS_INDICES                      3u
#define NMC_TAG_WEIGHTS_VALUES                       4u
#define NMC_TAG_WEIGHTS_DENSE                        5u
#define NMC_TAG_ROUTES_ENTRIES                       1u
#define NMC_TAG_PREPROC_NAME                         1u
#define NMC_TAG_PREPROC_ARRAY                        2u
#define NMC_TAG_IO_INPUT                             1u
#define NMC_TAG_IO_OUTPUT                            2u
#define NMC_TAG_POLICY_LEARNING_LOCKED               1u
#define NMC_TAG_POLICY_CLASS_EXPECTED                2u
#define NMC_TAG_POLICY_CLASS_TOLERANCE               3u
#define NMC_TAG_POLICY_SPIKE_RATE                    4u
#define NMC_TAG_POLICY_SPIKE_RATE_TOLERANCE          5u
#define NMC_TAG_POLICY_DEAD_NEURON_WINDOW            6u
#define NMC_TAG_POLICY_SANITY_WINDOW                 7u
#define NMC_TAG_STATE_VERSION                        1u
#define NMC_TAG_STATE_HASH                           2u
#define NMC_TAG_STATE_POP                            3u
#define NMC_TAG_STATE_WORD_NAME                      4u
#define NMC_TAG_STATE_WORD_SPEC                      5u
#define NMC_TAG_THERMAL_EDGES                        1u
#define NMC_TAG_THERMAL_HYSTERESIS                   2u
#define NMC_TAG_THERMAL_POP                          3u
#define NMC_TAG_THERMAL_THRESHOLD                    4u

/* the first bytes of every image */
typedef struct nmc_header {
    uint8_t magic[8];
    uint16_t version_major;
    uint16_t version_minor;
    uint16_t header_size;
    uint16_t entry_size;
    uint32_t flags;
    uint16_t family;
    uint16_t reserved0;
    uint32_t section_count;
    uint32_t table_offset;
    uint32_t trailer_offset;
    uint32_t total_size;
    uint32_t crc32;
    uint32_t reserved1;
    uint64_t reserved2;
    uint64_t reserved3;
} nmc_header_t;
#define NMC_HEADER_SIZE                              64u
#define NMC_HEADER_OFF_MAGIC                         0u
#define NMC_HEADER_OFF_VERSION_MAJOR                 8u
#define NMC_HEADER_OFF_VERSION_MINOR                 10u
#define NMC_HEADER_OFF_HEADER_SIZE                   12u
#define NMC_HEADER_OFF_ENTRY_SIZE                    14u
#define NMC_HEADER_OFF_FLAGS                         16u
#define NMC_HEADER_OFF_FAMILY                        20u
#define NMC_HEADER_OFF_RESERVED0                     22u
#define NMC_HEADER_OFF_SECTION_COUNT                 24u
#define NMC_HEADER_OFF_TABLE_OFFSET                  28u
#define NMC_HEADER_OFF_TRAILER_OFFSET                32u
#define NMC_HEADER_OFF_TOTAL_SIZE                    36u
#define NMC_HEADER_OFF_CRC32                         40u
#define NMC_HEADER_OFF_RESERVED1                     44u
#define NMC_HEADER_OFF_RESERVED2                     48u
#define NMC_HEADER_OFF_RESERVED3                     56u
NMC_STATIC_ASSERT(sizeof(nmc_header_t) == NMC_HEADER_SIZE, "nmc_header_t size");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, magic) == NMC_HEADER_OFF_MAGIC, "nmc_header_t.magic offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, version_major) == NMC_HEADER_OFF_VERSION_MAJOR, "nmc_header_t.version_major offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, version_minor) == NMC_HEADER_OFF_VERSION_MINOR, "nmc_header_t.version_minor offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, header_size) == NMC_HEADER_OFF_HEADER_SIZE, "nmc_header_t.header_size offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, entry_size) == NMC_HEADER_OFF_ENTRY_SIZE, "nmc_header_t.entry_size offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, flags) == NMC_HEADER_OFF_FLAGS, "nmc_header_t.flags offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, family) == NMC_HEADER_OFF_FAMILY, "nmc_header_t.family offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, reserved0) == NMC_HEADER_OFF_RESERVED0, "nmc_header_t.reserved0 offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, section_count) == NMC_HEADER_OFF_SECTION_COUNT, "nmc_header_t.section_count offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, table_offset) == NMC_HEADER_OFF_TABLE_OFFSET, "nmc_header_t.table_offset offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, trailer_offset) == NMC_HEADER_OFF_TRAILER_OFFSET, "nmc_header_t.trailer_offset offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, total_size) == NMC_HEADER_OFF_TOTAL_SIZE, "nmc_header_t.total_size offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, crc32) == NMC_HEADER_OFF_CRC32, "nmc_header_t.crc32 offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, reserved1) == NMC_HEADER_OFF_RESERVED1, "nmc_header_t.reserved1 offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, reserved2) == NMC_HEADER_OFF_RESERVED2, "nmc_header_t.reserved2 offset");
NMC_STATIC_ASSERT(offsetof(nmc_header_t, reserved3) == NMC_HEADER_OFF_RESERVED3, "nmc_header_t.reserved3 offset");

/* one row of the section table */
typedef struct nmc_section_entry {
    uint16_t type;
    uint16_t flags;
    uint32_t instance;
    uint32_t offset;
    uint32_t size;
    uint32_t crc32;
    uint32_t block_count;
    uint64_t reserved;
} nmc_section_entry_t;
#define NMC_SECTION_ENTRY_SIZE                       32u
#define NMC_SECTION_ENTRY_OFF_TYPE                   0u
#define NMC_SECTION_ENTRY_OFF_FLAGS                  2u
#define NMC_SECTION_ENTRY_OFF_INSTANCE               4u
#define NMC_SECTION_ENTRY_OFF_OFFSET                 8u
#define NMC_SECTION_ENTRY_OFF_SIZE                   12u
#define NMC_SECTION_ENTRY_OFF_CRC32                  16u
#define NMC_SECTION_ENTRY_OFF_BLOCK_COUNT            20u
#define NMC_SECTION_ENTRY_OFF_RESERVED               24u
NMC_STATIC_ASSERT(sizeof(nmc_section_entry_t) == NMC_SECTION_ENTRY_SIZE, "nmc_section_entry_t size");
NMC_STATIC_ASSERT(offsetof(nmc_section_entry_t, type) == NMC_SECTION_ENTRY_OFF_TYPE, "nmc_section_entry_t.type offset");
NMC_STATIC_ASSERT(offsetof(nmc_section_entry_t, flags) == NMC_SECTION_ENTRY_OFF_FLAGS, "nmc_section_entry_t.flags offset");
NMC_STATIC_ASSERT(offsetof(nmc_section_entry_t, instance) == NMC_SECTION_ENTRY_OFF_INSTANCE, "nmc_section_entry_t.instance offset");
NMC_STATIC_ASSERT(offsetof(nmc_section_entry_t, offset) == NMC_SECTION_ENTRY_OFF_OFFSET, "nmc_section_entry_t.offset offset");
NMC_STATIC_ASSERT(offsetof(nmc_section_entry_t, size) == NMC_SECTION_ENTRY_OFF_SIZE, "nmc_section_entry_t.size offset");
NMC_STATIC_ASSERT(offsetof(nmc_section_entry_t, crc32) == NMC_SECTION_ENTRY_OFF_CRC32, "nmc_section_entry_t.crc32 offset");
NMC_STATIC_ASSERT(offsetof(nmc_section_entry_t, block_count) == NMC_SECTION_ENTRY_OFF_BLOCK_COUNT, "nmc_section_entry_t.block_count offset");
NMC_STATIC_ASSERT(offsetof(nmc_section_entry_t, reserved) == NMC_SECTION_ENTRY_OFF_RESERVED, "nmc_section_entry_t.reserved offset");

/* header of one typed array inside a section payload */
typedef struct nmc_block_header {
    uint16_t tag;
    uint8_t dtype;
    uint8_t ndim;
    uint32_t dim0;
    uint32_t dim1;
    uint32_t dim2;
} nmc_block_header_t;
#define NMC_BLOCK_HEADER_SIZE                        16u
#define NMC_BLOCK_HEADER_OFF_TAG                     0u
#define NMC_BLOCK_HEADER_OFF_DTYPE                   2u
#define NMC_BLOCK_HEADER_OFF_NDIM                    3u
#define NMC_BLOCK_HEADER_OFF_DIM0                    4u
#define NMC_BLOCK_HEADER_OFF_DIM1                    8u
#define NMC_BLOCK_HEADER_OFF_DIM2                    12u
NMC_STATIC_ASSERT(sizeof(nmc_block_header_t) == NMC_BLOCK_HEADER_SIZE, "nmc_block_header_t size");
NMC_STATIC_ASSERT(offsetof(nmc_block_header_t, tag) == NMC_BLOCK_HEADER_OFF_TAG, "nmc_block_header_t.tag offset");
NMC_STATIC_ASSERT(offsetof(nmc_block_header_t, dtype) == NMC_BLOCK_HEADER_OFF_DTYPE, "nmc_block_header_t.dtype offset");
NMC_STATIC_ASSERT(offsetof(nmc_block_header_t, ndim) == NMC_BLOCK_HEADER_OFF_NDIM, "nmc_block_header_t.ndim offset");
NMC_STATIC_ASSERT(offsetof(nmc_block_header_t, dim0) == NMC_BLOCK_HEADER_OFF_DIM0, "nmc_block_header_t.dim0 offset");
NMC_STATIC_ASSERT(offsetof(nmc_block_header_t, dim1) == NMC_BLOCK_HEADER_OFF_DIM1, "nmc_block_header_t.dim1 offset");
NMC_STATIC_ASSERT(offsetof(nmc_block_header_t, dim2) == NMC_BLOCK_HEADER_OFF_DIM2, "nmc_block_header_t.dim2 offset");

/* the last bytes of every image */
typedef struct nmc_trailer {
    uint8_t magic[4];
    uint32_t flags;
    uint32_t security_version;
    uint32_t reserved;
    uint8_t key_id[32];
    uint8_t sha256[32];
    uint8_t signature[64];
} nmc_trailer_t;
#define NMC_TRAILER_SIZE                             144u
#define NMC_TRAILER_OFF_MAGIC                        0u
#define NMC_TRAILER_OFF_FLAGS                        4u
#define NMC_TRAILER_OFF_SECURITY_VERSION             8u
#define NMC_TRAILER_OFF_RESERVED                     12u
#define NMC_TRAILER_OFF_KEY_ID                       16u
#define NMC_TRAILER_OFF_SHA256                       48u
#define NMC_TRAILER_OFF_SIGNATURE                    80u
NMC_STATIC_ASSERT(sizeof(nmc_trailer_t) == NMC_TRAILER_SIZE, "nmc_trailer_t size");
NMC_STATIC_ASSERT(offsetof(nmc_trailer_t, magic) == NMC_TRAILER_OFF_MAGIC, "nmc_trailer_t.magic offset");
NMC_STATIC_ASSERT(offsetof(nmc_trailer_t, flags) == NMC_TRAILER_OFF_FLAGS, "nmc_trailer_t.flags offset");
NMC_STATIC_ASSERT(offsetof(nmc_trailer_t, security_version) == NMC_TRAILER_OFF_SECURITY_VERSION, "nmc_trailer_t.security_version offset");
NMC_STATIC_ASSERT(offsetof(nmc_trailer_t, reserved) == NMC_TRAILER_OFF_RESERVED, "nmc_trailer_t.reserved offset");
NMC_STATIC_ASSERT(offsetof(nmc_trailer_t, key_id) == NMC_TRAILER_OFF_KEY_ID, "nmc_trailer_t.key_id offset");
NMC_STATIC_ASSERT(offsetof(nmc_trailer_t, sha256) == NMC_TRAILER_OFF_SHA256, "nmc_trailer_t.sha256 offset");
NMC_STATIC_ASSERT(offsetof(nmc_trailer_t, signature) == NMC_TRAILER_OFF_SIGNATURE, "nmc_trailer_t.signature offset");

#endif /* NMC_FORMAT_H */

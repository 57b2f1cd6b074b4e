/* nmc_image.h: locate and check the sections of a .nmc model image in place.
 *
 * C99, no heap, no floating point; the image stays where it is (flash or RAM) and every
 * accessor returns pointers into it. nmc_open() checks the framing, the image CRC-32, the
 * trailer SHA-256, that every reserved field and unknown flag bit is zero, and every
 * section's bounds and CRC-32 before anything else may be used. The Ed25519 signature is
 * checked by the caller (the runtime) over the first nmc_signed_size() bytes with the key
 * the trailer's key id names. */
#ifndef NMC_IMAGE_H
#define NMC_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "nmc_format.h"

typedef enum nmc_status {
    NMC_OK = 0,
    NMC_ERR_MAGIC,        /* not an .nmc image */
    NMC_ERR_TRUNCATED,    /* fewer bytes than the image declares */
    NMC_ERR_VERSION,      /* unsupported major version or fixed-structure size */
    NMC_ERR_BOUNDS,       /* table, section or trailer out of bounds, misaligned, overlapping or listed twice */
    NMC_ERR_CRC,          /* image CRC-32 mismatch */
    NMC_ERR_SECTION_CRC,  /* a section's CRC-32 mismatch */
    NMC_ERR_HASH,         /* trailer SHA-256 mismatch */
    NMC_ERR_NOT_FOUND,    /* no such section, or no further block */
    NMC_ERR_BLOCK,        /* a block header runs past its section or has an unknown type */
    NMC_ERR_RESERVED      /* a reserved field or an unknown flag bit is not zero */
} nmc_status_t;

typedef struct nmc_image {
    const uint8_t *data;
    uint32_t size;
    uint16_t version_major;
    uint16_t version_minor;
    uint32_t flags;
    uint16_t family;
    uint16_t entry_size;
    uint32_t section_count;
    uint32_t table_offset;
    uint32_t trailer_offset;
    uint32_t crc32;
    uint32_t security_version;  /* from the trailer */
    const uint8_t *key_id;      /* 32 bytes in the trailer: SHA-256 of the signer's public key */
    const uint8_t *signature;   /* 64 bytes in the trailer */
} nmc_image_t;

typedef struct nmc_section {
    uint16_t type;
    uint32_t instance;
    uint32_t offset;
    uint32_t size;
    uint32_t block_count;
    const uint8_t *payload;
} nmc_section_t;

typedef struct nmc_block {
    uint16_t tag;
    uint8_t dtype;
    uint8_t ndim;
    uint32_t dim[3];
    uint32_t count;        /* elements (bytes for UTF8) */
    uint32_t nbytes;
    const uint8_t *data;   /* little-endian elements; 16-byte aligned relative to the image */
} nmc_block_t;

nmc_status_t nmc_open(nmc_image_t *image, const uint8_t *data, uint32_t size);
nmc_status_t nmc_section_at(const nmc_image_t *image, uint32_t index, nmc_section_t *out);
nmc_status_t nmc_find_section(const nmc_image_t *image, uint16_t type, uint32_t instance, nmc_section_t *out);
/* Walk a section's blocks: start with *cursor = 0; returns NMC_ERR_NOT_FOUND at the end. */
nmc_status_t nmc_next_block(const nmc_section_t *section, uint32_t *cursor, nmc_block_t *out);
const char *nmc_status_name(nmc_status_t status);
/* Bytes the trailer's Ed25519 signature covers: everything before the signature field. */
uint32_t nmc_signed_size(const nmc_image_t *image);

/* The state layout a snapshot must match: its version and the 32-byte SHA-256 digest to
 * store with every snapshot and compare before restoring one (docs/nmc-format.md, STATE). */
nmc_status_t nmc_state_layout(const nmc_image_t *image, uint32_t *version, const uint8_t **digest);

/* One element of an integer block, widened: any of U8..I64 (0 for another type or an index
 * past the block; check the block's dtype and count first). */
int64_t nmc_block_int(const nmc_block_t *block, uint32_t index);

/* The THERMAL section (format 2.1, docs/analog.md): temperature bands of an analog target.
 * nmc_thermal_open() returns NMC_ERR_NOT_FOUND when the image has none, NMC_ERR_BLOCK when
 * the edges are not at least two strictly ascending I32 values or the hysteresis is not a
 * U32 scalar. */
typedef struct nmc_thermal {
    uint32_t bands;
    const uint8_t *edges;   /* bands + 1 little-endian int32: centi-degrees Celsius, ascending */
    uint32_t hysteresis;    /* centi-kelvin */
    nmc_section_t section;  /* for the per-population THRESHOLD blocks */
} nmc_thermal_t;

nmc_status_t nmc_thermal_open(const nmc_image_t *image, nmc_thermal_t *out);
int32_t nmc_thermal_edge(const nmc_thermal_t *thermal, uint32_t index);
/* The (bands, neurons) THRESHOLD block of one population: NMC_ERR_NOT_FOUND when the section
 * has none for it, NMC_ERR_BLOCK when it is not an integer matrix with one row per band. */
nmc_status_t nmc_thermal_thresholds(const nmc_thermal_t *thermal, uint32_t population, nmc_block_t *out);

uint32_t nmc_crc32_update(uint32_t crc, const uint8_t *data, size_t size);

typedef struct nmc_sha256 {
    uint32_t state[8];
    uint64_t length;
    uint8_t buffer[64];
    uint32_t used;
} nmc_sha256_t;

void nmc_sha256_init(nmc_sha256_t *ctx);
void nmc_sha256_update(nmc_sha256_t *ctx, const uint8_t *data, size_t size);
void nmc_sha256_final(nmc_sha256_t *ctx, uint8_t digest[32]);

#endif /* NMC_IMAGE_H */

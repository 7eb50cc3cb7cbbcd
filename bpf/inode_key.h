/* SPDX-License-Identifier: GPL-2.0 */
/*
 * inode_key.h — the device half of every kernel key (struct hw_exe_key), in one place.
 *
 * A key is (device, inode number). On most filesystems the device is the superblock's `s_dev`.
 * btrfs is the exception: every subvolume of a filesystem shares one superblock, and inode
 * numbers are per subvolume (each new subvolume's first files are 257, 258, ...). An
 * unprivileged user may create a subvolume in any folder it can write to, so (`s_dev`, `i_ino`)
 * would let a stranger's file share the key of an approved file in another subvolume. The
 * subvolume's anonymous device (`btrfs_root->anon_dev`, what `stat` reports as st_dev) tells
 * them apart; it is a kernel dev_t (major << 20 | minor) like `s_dev`.
 *
 * Every program that computes a key (exec, lineage, sockets, script opens, the identity
 * iterators the daemon takes its keys from) goes through hw_inode_dev, so the daemon's keys and
 * the hooks' keys agree by construction.
 */
#ifndef HW_INODE_KEY_H
#define HW_INODE_KEY_H

#define HW_BTRFS_SUPER_MAGIC 0x9123683E

/*
 * The device of `inode`'s key, given its superblock `sb` and that superblock's `magic` (a caller
 * that already read them, the open-exit tracepoint, saves the loads).
 */
static __always_inline __u64 hw_inode_dev_sb(struct inode *inode, struct super_block *sb,
					     __u64 magic)
{
	if (bpf_core_type_exists(struct btrfs_inode) && magic == HW_BTRFS_SUPER_MAGIC) {
		/* container_of(inode, struct btrfs_inode, vfs_inode), offset relocated by CO-RE. */
		struct btrfs_inode *bi =
			(void *)((char *)inode - bpf_core_field_offset(struct btrfs_inode, vfs_inode));
		__u64 anon = BPF_CORE_READ(bi, root, anon_dev);
		if (anon)
			return anon;
	}
	return BPF_CORE_READ(sb, s_dev);
}

/* The device of `inode`'s key: the subvolume's anonymous device on btrfs, else i_sb->s_dev. */
static __always_inline __u64 hw_inode_dev(struct inode *inode)
{
	if (!inode)
		return 0;
	struct super_block *sb = BPF_CORE_READ(inode, i_sb);
	return hw_inode_dev_sb(inode, sb, BPF_CORE_READ(sb, s_magic));
}

/* A file's key: what exec, lineage and the fd iterator compute. */
static __always_inline void hw_file_key(struct file *f, struct hw_exe_key *key)
{
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	key->ino = BPF_CORE_READ(inode, i_ino);
	key->dev = hw_inode_dev(inode);
}

/* A folder's key (a working directory, the folder of an fd): its inode's. */
static __always_inline void hw_dentry_key(struct dentry *d, struct hw_exe_key *key)
{
	struct inode *inode = BPF_CORE_READ(d, d_inode);
	key->ino = BPF_CORE_READ(inode, i_ino);
	key->dev = hw_inode_dev(inode);
}

#endif /* HW_INODE_KEY_H */

import os
import stat

from shotcaller.backends import files


def test_written_files_get_the_users_normal_permissions_not_0600(tmp_path):
    target = tmp_path / "shot" / "take.mp4"
    assert files.write_atomically([b"abc", b"def"], str(target)) == 6
    assert target.read_bytes() == b"abcdef"
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask

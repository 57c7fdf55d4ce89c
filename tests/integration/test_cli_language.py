"""The CLI speaks the TUI's language: LANG=ru_RU.UTF-8 (or config `language`) gives Russian output and
Russian errors, LANG=C English; run as the real `swarmdeck` command (python -m tui) in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from core.identity import profiles as prof


def swarmdeck(*argv: str, lang: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "LANG": lang}
    env.pop("LC_ALL", None)
    env.pop("LC_MESSAGES", None)
    return subprocess.run([sys.executable, "-m", "tui", *argv], env=env, input=stdin, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def one_profile():
    prof.create_profile("main")
    prof.use_profile("main")


def test_profile_list_in_russian_and_english(one_profile):
    ru = swarmdeck("profile", "list", lang="ru_RU.UTF-8")
    assert ru.returncode == 0, ru.stderr
    assert "ИМЯ" in ru.stdout and "СЕТЬ" in ru.stdout and "остановлен" in ru.stdout and "нет" in ru.stdout
    assert not re.search(r"\b(NAME|NETWORK|stopped)\b", ru.stdout)
    en = swarmdeck("profile", "list", lang="C.UTF-8")
    assert "NAME" in en.stdout and "stopped" in en.stdout and "ИМЯ" not in en.stdout


def test_an_error_in_russian_exits_non_zero(one_profile, tmp_path):
    missing = tmp_path / "nowhere.sdbackup"
    ru = swarmdeck("identity", "verify", str(missing), "-p", "main", lang="ru_RU.UTF-8", stdin="correct horse 1\n")
    assert ru.returncode == 1 and ru.stdout == ""
    err = ru.stderr
    assert "архива резервной копии не существует" in err and f"где: {missing}" in err
    assert "исправить: проверьте путь" in err and "Traceback" not in err
    assert not re.search(r"\b(does not exist|where|fix|check the path)\b", err)
    en = swarmdeck("identity", "verify", str(missing), "-p", "main", lang="C.UTF-8", stdin="correct horse 1\n")
    assert en.returncode == 1 and "the backup archive does not exist." in en.stderr and "fix:   check the path" in en.stderr


def test_the_config_setting_wins_over_the_locale(one_profile):
    from core.config.settings import load_config

    cfg = load_config()
    cfg.set("language", "ru")
    cfg.save()
    out = swarmdeck("profile", "list", lang="en_US.UTF-8")
    assert out.returncode == 0 and "ИМЯ" in out.stdout


def test_status_in_russian(one_profile):
    ru = swarmdeck("status", lang="ru_RU.UTF-8")
    assert ru.returncode == 0, ru.stderr
    assert "конфигурация:" in ru.stdout and "вход не выполнен" in ru.stdout and "НЕТ КОПИИ" in ru.stdout
    words = re.sub(r"/\S+", "", ru.stdout)  # paths stay as they are
    assert not re.search(r"\b(config|not signed in|NO BACKUP|stopped)\b", words)
    bad = swarmdeck("status", "-p", "nope", lang="ru_RU.UTF-8")
    assert bad.returncode == 1 and "профиля с именем 'nope' нет." in bad.stderr and "исправить:" in bad.stderr


def test_config_validate_in_russian(one_profile, tmp_path):
    """A broken config: every problem in Russian with its file:line and key, same exit code, no traceback."""
    bad = tmp_path / "bad.toml"
    bad.write_text('language = 5\nfoo = 1\n[profiles.main]\ndht_port = 99999\nnetwork = "zz"\n', encoding="utf-8")
    ru = swarmdeck("config", "validate", str(bad), lang="ru_RU.UTF-8")
    assert ru.returncode == 1 and "Traceback" not in ru.stderr, ru.stderr
    out = ru.stdout
    assert f"{bad}: проблем: 4" in out
    assert f"{bad}:1: language: должно быть строкой" in out and f"{bad}:2: foo: неизвестный ключ" in out
    assert "profiles.main.dht_port: 99999 — недопустимый порт (0..65535) (исправить: укажите порт" in out
    assert "сети 'zz' нет" in out
    words = re.sub(r"/\S+", "", out)
    assert not re.search(r"\b(problems?|must be|unknown key|fix|does not exist|not a valid port)\b", words)
    en = swarmdeck("config", "validate", str(bad), lang="C.UTF-8")
    assert en.returncode == 1 and f"{bad}: 4 problems" in en.stdout
    assert f"{bad}:4: profiles.main.dht_port: 99999 is not a valid port (0..65535) (fix: use a port" in en.stdout
    # the config in use, broken: `status` names the problem in Russian too (exit 1 as in English)
    from core.config.settings import config_path

    good = config_path().read_text(encoding="utf-8")
    assert 'language = "auto"' in good
    config_path().write_text(good.replace('language = "auto"', "language = 5"), encoding="utf-8")
    st = swarmdeck("status", lang="ru_RU.UTF-8")
    assert st.returncode == 1 and "Traceback" not in st.stderr, st.stderr
    assert "language: должно быть строкой" in st.stdout and "must be" not in st.stdout
    # a config that does not parse: the broken-config lines in Russian
    config_path().write_text('language = "ru"\n' + good, encoding="utf-8")
    st = swarmdeck("status", lang="ru_RU.UTF-8")
    assert st.returncode == 1 and "Traceback" not in st.stderr, st.stderr
    assert "это не TOML" in st.stdout and "исправить: " in st.stdout
    assert not re.search(r"\b(not valid TOML|fix|restore the default)\b", st.stdout)


def test_doctor_in_russian(one_profile):
    """`doctor` on this machine in Russian: every check's title and detail from the catalog, same exit code
    as in English, no traceback; a broken config is reported in Russian (exit 1)."""
    ru = swarmdeck("doctor", "--no-torch", lang="ru_RU.UTF-8")
    en = swarmdeck("doctor", "--no-torch", lang="C.UTF-8")
    assert ru.returncode == en.returncode and "Traceback" not in ru.stderr, ru.stderr
    assert "Архитектура CPU:" in ru.stdout and "Порт входа" in ru.stdout and "Конфигурация:" in ru.stdout
    assert "Рекомендуется: модель" in ru.stdout and "опрашиваю GPU" in ru.stderr
    assert "CPU architecture:" in en.stdout and "Recommended: model" in en.stdout
    words = re.sub(r"/\S+", "", ru.stdout)
    assert not re.search(r"\b(Memory|Free disk|Login port|Terminal|Recommended|All required|fix|free at)\b", words)
    from core.config.settings import config_path

    good = config_path().read_text(encoding="utf-8")
    config_path().write_text(good.replace('language = "auto"', "language = 5"), encoding="utf-8")
    ru = swarmdeck("doctor", "--no-torch", lang="ru_RU.UTF-8")
    assert ru.returncode == 1 and "Traceback" not in ru.stderr, ru.stderr
    assert "[FAIL] Конфигурация:" in ru.stdout and "language: должно быть строкой" in ru.stdout
    assert "Проверок не пройдено: 1" in ru.stdout and "must be" not in ru.stdout


def test_alerts_metrics_network_in_russian(one_profile):
    """`alerts list|test`, `metrics serve` on a public address (refused) and `network status` in Russian,
    with the English exit codes and no traceback."""
    cases = [(("alerts", "list"), 0, "нет адресов оповещений", "no alert URL"),
             (("alerts", "test"), 1, "адрес для оповещений не задан", "no alert URL is configured"),
             (("metrics", "serve", "--host", "0.0.0.0"), 1, "метрики будут доступны с других машин", "would be reachable"),
             (("network", "status"), 0, "цепочка: остановлена", "chain: down")]
    for argv, code, ru_text, en_text in cases:
        ru = swarmdeck(*argv, lang="ru_RU.UTF-8")
        en = swarmdeck(*argv, lang="C.UTF-8")
        assert ru.returncode == en.returncode == code, (argv, ru.stderr, en.stderr)
        assert "Traceback" not in ru.stderr + en.stderr
        assert ru_text in ru.stdout + ru.stderr and en_text not in ru.stdout + ru.stderr, argv
        assert en_text in en.stdout + en.stderr, argv
        if code:
            assert "исправить:" in ru.stderr and "fix:" in en.stderr


def test_a_chain_error_renders_in_russian(one_profile):
    """A chain error a user meets (attaching to a local chain that is not running): English for logs and
    str(e), Russian what/где/исправить block when rendered in Russian."""
    from core.base.errors import ChainError
    from core.base.i18n import Translator
    from core.chain.devnet import LocalChain

    with pytest.raises(ChainError) as ei:
        LocalChain.attach("i18n2-nowhere")
    e = ei.value
    assert e.what == "the 'i18n2-nowhere' chain is not running" and "swarmdeck network up" in e.fix
    ru = e.render(Translator("ru"))
    assert "цепочка 'i18n2-nowhere' не запущена" in ru and "исправить: сначала запустите локальную сеть" in ru
    assert not re.search(r"\b(is not running|start the local network|where|fix)\b", ru)


def test_doctor_network_in_russian(one_profile):
    """`doctor --network local` with no local chain running: the network check fails in Russian (exit 1 in both)."""
    ru = swarmdeck("doctor", "--no-torch", "--network", "local", lang="ru_RU.UTF-8")
    en = swarmdeck("doctor", "--no-torch", "--network", "local", lang="C.UTF-8")
    assert ru.returncode == en.returncode == 1 and "Traceback" not in ru.stderr + en.stderr, ru.stderr
    assert "[FAIL] local: RPC: цепочка local не запущена" in ru.stdout
    assert "исправить: запустите локальную сеть: `swarmdeck network up`" in ru.stdout
    assert "[FAIL] local RPC: the local chain is not running" in en.stdout
    assert "is not running" not in ru.stdout and "start the local network" not in ru.stdout


def test_identity_permission_warning_in_russian(one_profile):
    """A group-readable identity file: `status` and `doctor` warn in Russian (and English as before)."""
    import stat

    from core.base.paths import ProfilePaths

    ident = ProfilePaths("main").identity_dir
    f = next(p for p in sorted(ident.iterdir()) if p.is_file())
    f.chmod(0o644)
    ru = swarmdeck("status", lang="ru_RU.UTF-8")
    assert "Traceback" not in ru.stderr, ru.stderr
    assert f"у {f} права 0o644 (должны быть 0o600)" in ru.stdout
    en = swarmdeck("status", lang="C.UTF-8")
    assert f"{f} is 0o644 (should be 0o600)" in en.stdout and ru.returncode == en.returncode
    doc = swarmdeck("doctor", "--no-torch", lang="ru_RU.UTF-8")
    assert doc.returncode == 1 and f"Права на файлы личности: у {f} права 0o644" in doc.stdout
    assert stat.S_IMODE(f.stat().st_mode) == 0o644  # only reported, never changed without asking


def test_login_stop_in_russian(one_profile):
    """`login --stop` with nothing running: Russian, exit 0 as in English."""
    ru = swarmdeck("login", "--stop", "-p", "main", lang="ru_RU.UTF-8")
    en = swarmdeck("login", "--stop", "-p", "main", lang="C.UTF-8")
    assert ru.returncode == en.returncode == 0 and "Traceback" not in ru.stderr, ru.stderr
    assert "Страница входа профиля 'main' не была запущена." in ru.stdout
    assert "No sign-in page of profile 'main' was running." in en.stdout


def test_swarm_commands_in_russian(one_profile):
    """`swarm status` with no hosted swarm, `swarm invite` with none (a keyed error) and `swarm join` of a cut
    invite: Russian text, the same exit codes as in English, no traceback."""
    ru = swarmdeck("swarm", "status", lang="ru_RU.UTF-8")
    en = swarmdeck("swarm", "status", lang="C.UTF-8")
    assert ru.returncode == en.returncode == 0, ru.stderr
    assert "эта машина не хостит ни одного роя" in ru.stdout and "hosts no swarm" in en.stdout
    assert not re.search(r"\b(this machine|host one)\b", ru.stdout)
    ru = swarmdeck("swarm", "invite", lang="ru_RU.UTF-8")
    en = swarmdeck("swarm", "invite", lang="C.UTF-8")
    assert ru.returncode == en.returncode == 1 and "Traceback" not in ru.stderr, ru.stderr
    assert "какой рой? эта машина пока не хостит ни одного роя" in ru.stderr and "исправить: создайте рой" in ru.stderr
    assert "which swarm? this machine hosts none yet" in en.stderr
    ru = swarmdeck("swarm", "join", "swarmdeck-invite1.cut", lang="ru_RU.UTF-8")
    en = swarmdeck("swarm", "join", "swarmdeck-invite1.cut", lang="C.UTF-8")
    assert ru.returncode == en.returncode == 1 and "Traceback" not in ru.stderr, ru.stderr
    assert "приглашение обрезано" in ru.stderr and "попросите хоста роя новое приглашение" in ru.stderr
    assert not re.search(r"\b(invite is cut|ask the swarm)\b", ru.stderr)
    assert "the invite is cut or has extra parts" in en.stderr

from pathlib import Path

import pytest

from agent.app.config import BedsideConfig, ConfigError, load_config, parse_assignments
from agent.app.config_docs import defaults_yaml

REPO = Path(__file__).resolve().parents[3]


def test_embedded_defaults_load_without_a_file():
    config = load_config(environ={})
    assert config.sip.port == 5060 and config.sip.host == "127.0.0.1"


def test_precedence_is_overrides_then_env_then_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sip:\n  port: 5070\n  max_calls: 3\n")
    env = {"BEDSIDE_SIP__PORT": "5080", "BEDSIDE_TURN__REPLY": "From env"}
    config = load_config(path, overrides=parse_assignments(["sip.port=5090"]), environ=env)
    assert config.sip.port == 5090
    assert config.sip.max_calls == 3
    assert config.turn.reply == "From env"


def test_env_can_name_the_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sip:\n  port: 5071\n")
    assert load_config(environ={"BEDSIDE_CONFIG": str(path)}).sip.port == 5071


def test_yaml_syntax_error_points_to_file_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("sip:\n  port: 5060\n  codecs: [PCMU/8000\nturn: {}\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml:4:\d+: YAML syntax error"):
        load_config(path, environ={})


def test_wrong_type_and_unknown_key_name_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("sip:\n  port: loud\n  prot: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert "bad.yaml:2:3: sip.port" in message
    assert "bad.yaml:3:3: sip.prot: Extra inputs are not permitted" in message


def test_out_of_range_value_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="sip.port"):
        load_config(overrides={"sip": {"port": 70000}}, environ={})


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(path, environ={})


def test_set_needs_key_equals_value():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignments(["sip.port"])


def test_shipped_config_documents_every_default():
    shipped = (REPO / "configs" / "bedside.yaml").read_text()
    assert shipped == defaults_yaml(), "regenerate: .venv/bin/bedside config defaults > configs/bedside.yaml"
    assert load_config(REPO / "configs" / "bedside.yaml", environ={}) == BedsideConfig()


def test_every_setting_has_a_documented_default():
    from pydantic import BaseModel

    missing = []

    def walk(model: BaseModel, prefix: str) -> None:
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                walk(value, f"{prefix}{name}.")
            elif not field.description:
                missing.append(prefix + name)

    walk(BedsideConfig(), "")
    assert missing == []


def test_an_ice_address_that_is_not_an_ip_address_is_a_config_error_naming_it(tmp_path):
    path = tmp_path / "webrtc.yaml"
    path.write_text("webrtc:\n  ice_addresses: [192.0.2.7, console.clinic.example]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert "webrtc.yaml:2:3: webrtc.ice_addresses" in message and "console.clinic.example" in message


def test_ice_addresses_are_kept_in_their_canonical_form():
    config = load_config(overrides={"webrtc": {"ice_addresses": ["2001:0DB8:0000::0001", "127.0.0.1"]}}, environ={})
    assert config.webrtc.ice_addresses == ["2001:db8::1", "127.0.0.1"]
    from_set = load_config(overrides=parse_assignments(["webrtc.ice_addresses=[10.0.0.1, '2001:DB8::7']"]), environ={})
    assert from_set.webrtc.ice_addresses == ["10.0.0.1", "2001:db8::7"]
    from_env = load_config(environ={"BEDSIDE_WEBRTC__ICE_ADDRESSES": "[192.0.2.7]"})
    assert from_env.webrtc.ice_addresses == ["192.0.2.7"]
    assert BedsideConfig().webrtc.ice_addresses == []  # default: the console's own address (telephony/webrtc_ice.py)


def test_an_ice_address_for_every_interface_is_a_config_error():
    with pytest.raises(ConfigError, match="every interface"):
        load_config(overrides={"webrtc": {"ice_addresses": ["0.0.0.0"]}}, environ={})

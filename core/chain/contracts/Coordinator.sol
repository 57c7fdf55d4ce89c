// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title swarmdeck's own RL swarm coordinator
/// @notice Exposes the public SwarmCoordinator 0.4.2 interface exactly (same functions, return
/// types, events with the same indexed arguments, custom errors and roles), so rl-swarm's clients,
/// dashboards, exporters and indexers built on the public ABI work against swarmdeck's chains.
/// Behaviour matches the public contract call for call (tests/integration/test_chain_differential.py
/// runs both side by side). Left out on purpose: the proxy/upgrade plumbing (initialize, UUPS); this
/// contract is deployed directly and the deployer holds every role.
contract Coordinator {
    // ---------------------------------------------------------------- errors
    error PeerIdAlreadyRegistered();
    error RewardAlreadySubmitted();
    error WinnerAlreadyVoted();
    error InvalidRoundNumber();
    error InvalidStageNumber();
    error InvalidVote();
    error InvalidVoterPeerId();
    error StageOutOfBounds();
    error OnlyOwner();
    error OnlyStageManager();
    error OnlyBootnodeManager();
    error InvalidBootnodeIndex();

    // ---------------------------------------------------------------- events
    event PeerRegistered(address indexed eoa, string peerId);
    event RewardSubmitted(
        address indexed account, uint256 indexed roundNumber, uint256 indexed stageNumber, int256 reward, string peerId
    );
    event WinnerSubmitted(address indexed account, string peerId, uint256 indexed roundNumber, string[] winners);
    event CumulativeRewardsUpdated(address indexed account, string peerId, int256 totalRewards);
    event RoundAdvanced(uint256 indexed newRoundNumber);
    event StageAdvanced(uint256 indexed roundNumber, uint256 newStage);
    event BootnodesAdded(address indexed manager, uint256 count);
    event BootnodeRemoved(address indexed manager, uint256 index);
    event AllBootnodesCleared(address indexed manager);
    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);

    // ---------------------------------------------------------------- roles
    bytes32 public constant OWNER_ROLE = keccak256("OWNER_ROLE");
    bytes32 public constant STAGE_MANAGER_ROLE = keccak256("STAGE_MANAGER_ROLE");
    bytes32 public constant BOOTNODE_MANAGER_ROLE = keccak256("BOOTNODE_MANAGER_ROLE");

    // The public contract's fixed value; nodes submit one reward per round (stage 0).
    uint256 private constant STAGE_COUNT = 3;
    // Each leaderboard keeps the top 100 (ties keep their place; see _bump).
    uint256 private constant LEADERBOARD_SIZE = 100;

    mapping(bytes32 => mapping(address => bool)) private _roles;

    // ---------------------------------------------------------------- state
    uint256 private _currentRound;
    uint256 private _currentStage;

    // Peer ids are keyed by their keccak256 hash: one slot per lookup whatever their length.
    mapping(bytes32 => address) private _eoaOf;
    mapping(address => string[]) private _peersOf;

    mapping(uint256 => mapping(uint256 => mapping(address => bool))) private _rewardSubmitted;
    mapping(uint256 => mapping(uint256 => mapping(address => int256))) private _stageReward;
    mapping(bytes32 => int256) private _totalRewards;

    // round => voter => the winners it named (empty = has not voted that round)
    mapping(uint256 => mapping(bytes32 => string[])) private _votes;
    // round => peer => votes it received that round
    mapping(uint256 => mapping(bytes32 => uint256)) private _roundVotes;
    mapping(bytes32 => uint256) private _wins;
    mapping(bytes32 => uint256) private _voteCount;
    mapping(bytes32 => string) private _name; // peer ids seen on a leaderboard, by hash
    uint256 private _uniqueVoters;
    uint256 private _uniqueVotedPeers;

    struct Board {
        bytes32[] keys; // sorted by score, descending
        mapping(bytes32 => uint256) pos; // index + 1; 0 = not on the board
    }

    Board private _winnerBoard;
    Board private _voterBoard;

    string[] private _bootnodes;

    modifier onlyOwner() {
        if (!_roles[OWNER_ROLE][msg.sender]) revert OnlyOwner();
        _;
    }

    modifier onlyStageManager() {
        if (!_roles[STAGE_MANAGER_ROLE][msg.sender]) revert OnlyStageManager();
        _;
    }

    modifier onlyBootnodeManager() {
        if (!_roles[BOOTNODE_MANAGER_ROLE][msg.sender]) revert OnlyBootnodeManager();
        _;
    }

    constructor() {
        _grant(OWNER_ROLE, msg.sender);
        _grant(STAGE_MANAGER_ROLE, msg.sender);
        _grant(BOOTNODE_MANAGER_ROLE, msg.sender);
    }

    // ---------------------------------------------------------------- role admin
    function hasRole(bytes32 role, address account) external view returns (bool) {
        return _roles[role][account];
    }

    /// The owner grants and revokes every role (its own included). Both always emit, as the
    /// public contract does, even when nothing changes.
    function grantRole(bytes32 role, address account) external onlyOwner {
        _grant(role, account);
    }

    function revokeRole(bytes32 role, address account) external onlyOwner {
        _roles[role][account] = false;
        emit RoleRevoked(role, account, msg.sender);
    }

    function _grant(bytes32 role, address account) private {
        _roles[role][account] = true;
        emit RoleGranted(role, account, msg.sender);
    }

    // ---------------------------------------------------------------- rounds
    function currentRound() external view returns (uint256) {
        return _currentRound;
    }

    function currentStage() external view returns (uint256) {
        return _currentStage;
    }

    function stageCount() external pure returns (uint256) {
        return STAGE_COUNT;
    }

    /// Next stage; after the last stage, the next round's stage 0.
    function updateStageAndRound()
        external
        onlyStageManager
        returns (uint256, uint256)
    {
        uint256 stage = _currentStage + 1;
        if (stage > STAGE_COUNT) revert StageOutOfBounds(); // unreachable: a guard on the invariant
        if (stage == STAGE_COUNT) {
            stage = 0;
            _currentRound += 1;
            emit RoundAdvanced(_currentRound);
        }
        _currentStage = stage;
        emit StageAdvanced(_currentRound, stage);
        return (_currentRound, stage);
    }

    // ---------------------------------------------------------------- peers
    /// A peer id belongs to the first EOA that registers it, forever (any string, "" included).
    function registerPeer(string calldata peerId) external {
        bytes32 key = keccak256(bytes(peerId));
        if (_eoaOf[key] != address(0)) revert PeerIdAlreadyRegistered();
        _eoaOf[key] = msg.sender;
        _peersOf[msg.sender].push(peerId);
        emit PeerRegistered(msg.sender, peerId);
    }

    function getEoa(string[] calldata peerIds) external view returns (address[] memory) {
        address[] memory eoas = new address[](peerIds.length);
        for (uint256 i = 0; i < peerIds.length; i++) {
            eoas[i] = _eoaOf[keccak256(bytes(peerIds[i]))];
        }
        return eoas;
    }

    function getPeerId(address[] calldata eoas) external view returns (string[][] memory) {
        string[][] memory ids = new string[][](eoas.length);
        for (uint256 i = 0; i < eoas.length; i++) {
            ids[i] = _peersOf[eoas[i]];
        }
        return ids;
    }

    // ---------------------------------------------------------------- rewards
    /// One reward per (round, stage, account). A past round is accepted (a queued submission lands
    /// late), but never a stage above the current one, whatever the round.
    function submitReward(uint256 roundNumber, uint256 stageNumber, int256 reward, string calldata peerId) external {
        if (roundNumber > _currentRound) revert InvalidRoundNumber();
        if (stageNumber > _currentStage) revert InvalidStageNumber();
        if (_rewardSubmitted[roundNumber][stageNumber][msg.sender]) revert RewardAlreadySubmitted();
        bytes32 key = keccak256(bytes(peerId));
        if (_eoaOf[key] != msg.sender) revert InvalidVoterPeerId();
        _rewardSubmitted[roundNumber][stageNumber][msg.sender] = true;
        _stageReward[roundNumber][stageNumber][msg.sender] = reward;
        int256 total = _totalRewards[key] + reward;
        _totalRewards[key] = total;
        emit RewardSubmitted(msg.sender, roundNumber, stageNumber, reward, peerId);
        emit CumulativeRewardsUpdated(msg.sender, peerId, total);
    }

    function hasSubmittedRoundStageReward(uint256 roundNumber, uint256 stageNumber, address account)
        external
        view
        returns (bool)
    {
        return _rewardSubmitted[roundNumber][stageNumber][account];
    }

    function getRoundStageReward(uint256 roundNumber, uint256 stageNumber, address[] calldata accounts)
        external
        view
        returns (int256[] memory)
    {
        int256[] memory out = new int256[](accounts.length);
        for (uint256 i = 0; i < accounts.length; i++) {
            out[i] = _stageReward[roundNumber][stageNumber][accounts[i]];
        }
        return out;
    }

    function getTotalRewards(string[] calldata peerIds) external view returns (int256[] memory) {
        int256[] memory out = new int256[](peerIds.length);
        for (uint256 i = 0; i < peerIds.length; i++) {
            out[i] = _totalRewards[keccak256(bytes(peerIds[i]))];
        }
        return out;
    }

    // ---------------------------------------------------------------- winners
    /// One vote per (round, voter peer id). An empty vote counts as a vote for the voter's
    /// tally but does not use up the round: the voter may vote again with names.
    function submitWinners(uint256 roundNumber, string[] calldata winners, string calldata peerId) external {
        if (roundNumber > _currentRound) revert InvalidRoundNumber();
        bytes32 voter = keccak256(bytes(peerId));
        string[] storage stored = _votes[roundNumber][voter];
        if (stored.length != 0) revert WinnerAlreadyVoted();
        if (_eoaOf[voter] != msg.sender) revert InvalidVoterPeerId();
        bytes32[] memory keys = new bytes32[](winners.length);
        for (uint256 i = 0; i < winners.length; i++) {
            bytes32 k = keccak256(bytes(winners[i]));
            for (uint256 j = 0; j < i; j++) {
                if (keys[j] == k) revert InvalidVote(); // the same peer twice would count double
            }
            keys[i] = k;
        }
        for (uint256 i = 0; i < winners.length; i++) {
            bytes32 k = keys[i];
            stored.push(winners[i]);
            _roundVotes[roundNumber][k] += 1;
            uint256 wins = _wins[k] + 1;
            _wins[k] = wins;
            if (wins == 1) _uniqueVotedPeers += 1;
            _bump(_winnerBoard, _wins, k, winners[i], wins);
        }
        uint256 votes = _voteCount[voter] + 1;
        _voteCount[voter] = votes;
        if (votes == 1) _uniqueVoters += 1;
        _bump(_voterBoard, _voteCount, voter, peerId, votes);
        emit WinnerSubmitted(msg.sender, peerId, roundNumber, winners);
    }

    function getTotalWins(string calldata peerId) external view returns (uint256) {
        return _wins[keccak256(bytes(peerId))];
    }

    function getVoterVoteCount(string calldata peerId) external view returns (uint256) {
        return _voteCount[keccak256(bytes(peerId))];
    }

    function getPeerVoteCount(uint256 roundNumber, string calldata peerId) external view returns (uint256) {
        return _roundVotes[roundNumber][keccak256(bytes(peerId))];
    }

    function getVoterVotes(uint256 roundNumber, string calldata peerId) external view returns (string[] memory) {
        return _votes[roundNumber][keccak256(bytes(peerId))];
    }

    function uniqueVoters() external view returns (uint256) {
        return _uniqueVoters;
    }

    function uniqueVotedPeers() external view returns (uint256) {
        return _uniqueVotedPeers;
    }

    function winnerLeaderboard(uint256 start, uint256 end)
        external
        view
        returns (string[] memory peerIds, uint256[] memory wins)
    {
        return _slice(_winnerBoard, _wins, start, end);
    }

    function voterLeaderboard(uint256 start, uint256 end)
        external
        view
        returns (string[] memory peerIds, uint256[] memory voteCounts)
    {
        return _slice(_voterBoard, _voteCount, start, end);
    }

    /// `key`'s score rose to `score`: place it. A newcomer joins at the end while the board has
    /// room, else replaces the last entry when it now scores strictly more. Then it swaps with the
    /// first entry scoring less (binary search: the board is sorted), i.e. it moves to the head of
    /// the tie group it leaves; the entry it displaces takes its old place.
    function _bump(Board storage b, mapping(bytes32 => uint256) storage score, bytes32 key, string calldata id,
                   uint256 newScore) private {
        uint256 p = b.pos[key];
        uint256 i;
        if (p == 0) {
            uint256 n = b.keys.length;
            if (n < LEADERBOARD_SIZE) {
                b.keys.push(key);
                i = n;
            } else {
                bytes32 last = b.keys[n - 1];
                if (newScore <= score[last]) return;
                b.pos[last] = 0;
                b.keys[n - 1] = key;
                i = n - 1;
            }
            b.pos[key] = i + 1;
            if (bytes(_name[key]).length == 0 && bytes(id).length != 0) _name[key] = id;
        } else {
            i = p - 1;
        }
        uint256 lo = 0;
        uint256 hi = i;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (score[b.keys[mid]] < newScore) hi = mid;
            else lo = mid + 1;
        }
        if (lo != i) {
            bytes32 other = b.keys[lo];
            b.keys[lo] = key;
            b.keys[i] = other;
            b.pos[key] = lo + 1;
            b.pos[other] = i + 1;
        }
    }

    function _slice(Board storage b, mapping(bytes32 => uint256) storage score, uint256 start, uint256 end)
        private
        view
        returns (string[] memory ids, uint256[] memory scores)
    {
        require(start <= end, "Start index must be less than or equal to end index");
        uint256 n = b.keys.length;
        if (end > n) end = n;
        if (start > end) start = end;
        ids = new string[](end - start);
        scores = new uint256[](end - start);
        for (uint256 i = start; i < end; i++) {
            bytes32 k = b.keys[i];
            ids[i - start] = _name[k];
            scores[i - start] = score[k];
        }
    }

    // ---------------------------------------------------------------- bootnodes
    function getBootnodes() external view returns (string[] memory) {
        return _bootnodes;
    }

    function getBootnodesCount() external view returns (uint256) {
        return _bootnodes.length;
    }

    function addBootnodes(string[] calldata newBootnodes)
        external
        onlyBootnodeManager
    {
        for (uint256 i = 0; i < newBootnodes.length; i++) {
            _bootnodes.push(newBootnodes[i]);
        }
        emit BootnodesAdded(msg.sender, newBootnodes.length);
    }

    /// Swap-and-pop: order is not kept, gas stays constant.
    function removeBootnode(uint256 index) external onlyBootnodeManager {
        uint256 n = _bootnodes.length;
        if (index >= n) revert InvalidBootnodeIndex();
        if (index != n - 1) _bootnodes[index] = _bootnodes[n - 1];
        _bootnodes.pop();
        emit BootnodeRemoved(msg.sender, index);
    }

    function clearBootnodes() external onlyBootnodeManager {
        delete _bootnodes;
        emit AllBootnodesCleared(msg.sender);
    }
}
